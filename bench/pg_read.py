"""Time reading a 1M-row window (issue 12): DuckDB, PostgreSQL's blocks and COPY, the raw COPY.

One model of a realistic shape (by default 20 features, 14 numeric and 6 categorical, a score,
a prediction and labels for a third of the rows) gets the same `--rows` rows in one hourly
window, written through the store into a DuckDB file and into a throwaway PostgreSQL schema
(dropped afterwards), and once more into a second schema with column blocks turned off (the
write's cost of the blocks: `fill_seconds`). Then, `--repeat` times each, in one run:

- `duckdb`: `read_window` on the DuckDB store;
- `postgres`: `read_window` on the PostgreSQL store: from the window's column blocks
  (`vigil.store.blocks`), the labels joined from the label table;
- `postgres_copy`: the same with blocks turned off: the rows and their labels in one query,
  sorted by the server, through binary COPY decoded by this checkout's backend;
- `postgres_before`: the COPY read with the backend of git revision `--before` (default
  `main`), loaded from `git show`, so the decoders run side by side;
- `raw_copy`: the window's query as `COPY ... TO STDOUT (FORMAT binary)` read into bytes by
  psycopg without decoding: what the server and the connection cost at least;
- `raw_copy_unordered`: the same without `ORDER BY` (the server's sort left out);
- `sql_profile`: the window summarised by the server instead of sent, the least the "profile
  in SQL" route would run: per numeric column its count, NULLs, sum, sum of squares, min, max
  and out-of-range count, and its counts on 1,000 fine and 10 coarse bins (`width_bucket` on
  edge arrays, as a reference profile's); per category column its value counts; the labelled
  rows' confusion counts and 10,000 score bins; the latency percentiles. No quantile sketch
  (SQL has none to merge), so this is a lower bound of that route.

Each PostgreSQL table read is checked equal to DuckDB's. Run:

    python bench/pg_read.py --rows 1000000 --repeat 3 --out bench/pg_read_results.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from vigil.store import SqlStore, open_store
from vigil.store.base import ModelInfo, Storage

POSTGRES_URL = os.environ.get("VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2024, 5, 1)
BATCH = 50_000  # rows per write
CATEGORIES = ["red", "green", "blue", "yellow", "cyan", "magenta", "black", "white", "grün"]


def columns(features: int) -> list[tuple[str, str, Storage]]:
    """The model's columns: 70 % numeric features, the rest categorical; a score and a class."""
    numeric = round(features * 0.7)
    spec: list[tuple[str, str, Storage]] = [
        (f"num_{i}", "feature", "DOUBLE") for i in range(numeric)
    ]
    spec += [(f"cat_{i}", "feature", "VARCHAR") for i in range(features - numeric)]
    spec += [("score", "score", "DOUBLE"), ("prediction", "prediction", "VARCHAR")]
    return spec


def batches(rows: int, features: int, seed: int = 12) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Validated prediction and label batches of the window's rows (labels for a third)."""
    rng = np.random.default_rng(seed)
    spec = columns(features)
    for first in range(0, rows, BATCH):
        n = min(BATCH, rows - first)
        ids = pa.array([f"r{first + i:08d}" for i in range(n)], pa.string())
        micros = rng.integers(0, 3_600_000_000, n).astype("timedelta64[us]")
        data: dict[str, pa.Array] = {
            "id": ids,
            "timestamp": pa.array(np.datetime64(START, "us") + micros),
            "model_version": pa.array(["v1"] * n, pa.string()),
            "latency_ms": pa.array(rng.gamma(2.0, 3.0, n)),
            "error": pa.array([None] * n, pa.string()),
        }
        for name, _, storage in spec:
            if storage == "DOUBLE":
                values = rng.normal(size=n)
                mask = rng.random(n) < 0.02
                data[name] = pa.array(values, mask=mask)
            else:
                picks = rng.integers(0, len(CATEGORIES), n)
                data[name] = pa.array([CATEGORIES[p] for p in picks], pa.string())
        labelled = rng.random(n) < 1 / 3
        label_ids = pa.array(np.asarray(ids.to_pylist(), dtype=object)[labelled], pa.string())
        labels = pa.table(
            {
                "id": label_ids,
                "label": pa.array(rng.integers(0, 2, int(labelled.sum())).astype(float)),
                "timestamp": pa.array([START] * len(label_ids), pa.timestamp("us")),
            }
        )
        yield pa.table(data), labels


def fill(store: SqlStore, rows: int, features: int) -> ModelInfo:
    model = store.register_model(
        "bench",
        "v1",
        {"version": 1, "task": "binary", "columns": {}},
        columns(features),
        "DOUBLE",
    )
    for predictions, labels in batches(rows, features):
        store.write_predictions(model, [predictions], [], window_seconds=3600)
        store.write_labels(model, [labels], [], window_seconds=3600)
    return model


@contextmanager
def schema_url() -> Iterator[str]:
    """A URL whose tables live in a fresh schema, dropped afterwards."""
    name = f"vigil_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def backend_at(revision: str) -> types.ModuleType:
    """`vigil.store.postgres` as it was at a git revision, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/vigil/store/postgres.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent,
    ).stdout
    spec = importlib.util.spec_from_loader(f"postgres_at_{revision}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{revision}:postgres.py", "exec"), module.__dict__)
    return module


def raw_copy(url: str, query: str) -> int:
    """Bytes of the window's query as binary COPY, read and thrown away."""
    total = 0
    copy_sql = f"COPY ({query}) TO STDOUT (FORMAT binary)".encode()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")  # as the store's sessions
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for chunk in copy:
                total += len(chunk)
    return total


def raw_copy_unordered(url: str, query: str) -> int:
    """`raw_copy` of the query without its `ORDER BY`."""
    return raw_copy(url, query.rsplit(" ORDER BY ", 1)[0])


def profile_queries(model: ModelInfo) -> list[str]:
    """The aggregate queries of `sql_profile` (module docstring) over the bench's window."""
    window = f"p.version = 'v1' AND p.ts >= '{START}' AND p.ts < '{START + timedelta(hours=1)}'"
    where = f"FROM p_{model.id} p WHERE {window}"
    numeric = [c.key for c in model.columns if c.storage == "DOUBLE"]
    text = [c.key for c in model.columns if c.storage == "VARCHAR"]
    score = next(c.key for c in model.columns if c.name == "score")
    prediction = next(c.key for c in model.columns if c.name == "prediction")

    def edges(n: int) -> str:
        return "ARRAY[" + ",".join(f"{-4 + 8 * i / n:g}" for i in range(n + 1)) + "]::float8[]"

    moments = ", ".join(
        f"count({c}), sum({c}), sum({c} * {c}), min({c}), max({c}), "
        f"count(*) FILTER (WHERE {c} < -3 OR {c} > 3)"
        for c in numeric
    )
    which = ", ".join(str(i) for i in range(len(numeric)))
    fine = ", ".join(f"width_bucket({c}, {edges(1000)})" for c in numeric)
    coarse = ", ".join(f"width_bucket({c}, {edges(10)})" for c in numeric)
    return [
        f"SELECT count(*), {moments} {where}",
        f"SELECT g, b, s, count(*) FROM (SELECT unnest(ARRAY[{which}]) g, unnest(ARRAY[{fine}]) b,"
        f" unnest(ARRAY[{coarse}]) s {where}) q GROUP BY GROUPING SETS ((g, b), (g, s))",
        f"SELECT g, v, count(*) FROM (SELECT unnest(ARRAY[{', '.join(map(str, range(len(text))))}])"
        f" g, unnest(ARRAY[{', '.join(text)}]) v {where}) q GROUP BY g, v",
        f"SELECT l.label, p.{prediction}, width_bucket(p.{score}, 0, 1, 10000), count(*) "
        f"FROM p_{model.id} p JOIN l_{model.id} l ON l.id = p.id WHERE {window} "
        "GROUP BY 1, 2, 3",
        f"SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY p.latency_ms) "
        f"{where}",
    ]


def sql_profile(url: str, queries: list[str]) -> int:
    """Run the profile's queries, JIT off as the store's reads; the result rows."""
    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        for query in queries:
            rows += len(conn.execute(query.encode()).fetchall())
    return rows


def timed(action: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall seconds and this process's CPU seconds of each of `repeat` calls; the last result."""
    seconds, cpu = [], []
    result = None
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = action()
        seconds.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return seconds, cpu, result


def window_query(store: SqlStore, model: ModelInfo) -> str:
    """The SQL `read_window` runs, with its parameters as literals."""
    cols = ["p.id", "p.ts", "p.version", "p.latency_ms", "p.error"]
    cols += [f"p.{c.key}" for c in model.columns] + ["l.label"]
    return (
        f"SELECT {', '.join(cols)} FROM p_{model.id} p LEFT JOIN l_{model.id} l ON l.id = p.id "
        f"WHERE p.version = 'v1' AND p.ts >= '{START}' AND p.ts < '{START + timedelta(hours=1)}' "
        "ORDER BY p.ts, p.id"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default="main", help="git revision of the old backend")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    end = START + timedelta(hours=1)
    results: dict[str, Any] = {"rows": args.rows, "features": args.features}
    with tempfile.TemporaryDirectory() as folder, schema_url() as url:
        began = time.perf_counter()
        duck = open_store(Path(folder) / "bench.duckdb")
        model = fill(duck, args.rows, args.features)
        print(f"duckdb filled in {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
        pg = open_store(url)
        pg_model = fill(pg, args.rows, args.features)
        results["fill_seconds"] = {"postgres": time.perf_counter() - began}
        print(f"postgres filled in {time.perf_counter() - began:.1f} s", flush=True)
        pg._db.run("ANALYZE")
        with schema_url() as other:
            began = time.perf_counter()
            plain = open_store(other)
            plain._db.blocks = False  # type: ignore[attr-defined]
            fill(plain, args.rows, args.features)
            results["fill_seconds"]["postgres_without_blocks"] = time.perf_counter() - began
            plain.close()
        print(f"postgres without blocks filled in {time.perf_counter() - began:.1f} s")
        old_backend = backend_at(args.before).PostgresBackend(url)
        old_backend.blocks = False  # its COPY read, whatever that revision did with windows
        old = SqlStore(old_backend)
        pg_model_old = old.get_model("bench")
        assert pg_model_old is not None

        def read_duck() -> pa.Table:
            return duck.read_window(model, "v1", START, end)

        def read_pg() -> pa.Table:
            return pg.read_window(pg_model, "v1", START, end)

        def read_copy() -> pa.Table:
            pg._db.blocks = False  # type: ignore[attr-defined]
            try:
                return pg.read_window(pg_model, "v1", START, end)
            finally:
                pg._db.blocks = True  # type: ignore[attr-defined]

        def read_old() -> pa.Table:
            return old.read_window(pg_model_old, "v1", START, end)

        query = window_query(pg, pg_model)
        cases: dict[str, Callable[[], Any]] = {
            "duckdb": read_duck,
            "postgres_before": read_old,
            "postgres": read_pg,
            "postgres_copy": read_copy,
            "raw_copy": lambda: raw_copy(url, query),
            "raw_copy_unordered": lambda: raw_copy_unordered(url, query),
            "sql_profile": lambda: sql_profile(url, profile_queries(pg_model)),
        }
        expected = None
        for name, action in cases.items():
            seconds, cpu, table = timed(action, args.repeat)
            if isinstance(table, pa.Table):
                assert table.num_rows == args.rows, (name, table.num_rows)
                if expected is None:
                    expected = table
                else:
                    assert table.equals(expected), f"{name} differs from DuckDB"
            results[name] = {
                "seconds": seconds,
                "median": statistics.median(seconds),
                "client_cpu_seconds": cpu,
                "load_average": os.getloadavg()[0],
            }
            print(
                f"{name}: median {statistics.median(seconds):.2f} s "
                f"(runs {', '.join(f'{s:.2f}' for s in seconds)}; client CPU "
                f"{', '.join(f'{c:.2f}' for c in cpu)} s; load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        results["raw_copy"]["bytes"] = raw_copy(url, query)
        explain = pg._db.run(f"EXPLAIN (ANALYZE, BUFFERS) {query}")
        results["plan"] = [row[0] for row in explain]
        for store in (duck, pg, old):
            store.close()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
