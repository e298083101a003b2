"""Durability: kill -9 `vigil serve` during mixed JSON / Arrow / Parquet ingest, many times.

Each cycle starts `vigil serve` on the same store, lets three client threads send batches of
200 records (one JSON, one Arrow IPC, one Parquet) until about `--acks` batches are
acknowledged, then kills the server with SIGKILL at a random moment. After the last cycle the
store is opened directly and every acknowledged id must be there, each once. Runs on DuckDB
(a file) and on PostgreSQL (a fresh schema of the local database, dropped afterwards).

    .venv/bin/python bench/durability.py --cycles 30 --backend duckdb postgres

Prints one line per cycle and a summary; writes bench/durability_results.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
sys.path.insert(0, str(ROOT))

from tests.service.conftest import ServeProcess, credit_config  # noqa: E402


def batch_table(ids: list[str], rng: np.random.Generator) -> pa.Table:
    n = len(ids)
    proba = rng.random(n)
    return pa.table(
        {
            "id": ids,
            "timestamp": [time.time()] * n,
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["a", "b", "c"], n),
            "pred": np.where(proba > 0.5, "1", "0"),
            "proba": proba,
            "region": rng.choice(["north", "south", "east"], n),
        }
    )


def body(kind: str, table: pa.Table) -> tuple[bytes, str]:
    """The batch as a request body of the given format, and its content type."""
    if kind == "json":
        rows = table.to_pylist()
        recs = [
            {
                "id": r["id"],
                "timestamp": r["timestamp"],
                "features": {"age": r["age"], "income": r["income"], "city": r["city"]},
                "prediction": r["pred"],
                "score": r["proba"],
                "segments": {"region": r["region"]},
            }
            for r in rows
        ]
        return json.dumps({"records": recs}).encode(), "application/json"
    sink = io.BytesIO()
    if kind == "arrow":
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue(), "application/vnd.apache.arrow.stream"
    pq.write_table(table, sink)
    return sink.getvalue(), "application/vnd.apache.parquet"


@contextmanager
def store_url(backend: str, folder: Path) -> Iterator[str]:
    if backend == "duckdb":
        yield str(folder / "vigil.duckdb")
        return
    import psycopg

    schema = f"vigil_durability_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def cycle(
    serve: ServeProcess, n: int, acks: int, acknowledged: set[str], rng: random.Random
) -> int:
    """Send until about `acks` batches are acknowledged, kill -9 at a random moment."""
    lock = threading.Lock()
    stop = threading.Event()
    got = [0]

    def send(worker: int, kind: str) -> None:
        data = np.random.default_rng(worker + 10 * n)
        with httpx.Client(base_url=serve.url, timeout=30) as client:
            b = 0
            while not stop.is_set():
                ids = [f"c{n}-w{worker}-b{b}-{i}" for i in range(200)]
                content, ctype = body(kind, batch_table(ids, data))
                try:
                    r = client.post(
                        "/v1/models/credit/predictions",
                        content=content,
                        headers={"content-type": ctype},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    answer = r.json()
                    if answer["accepted"] != len(ids):
                        raise SystemExit(f"batch {ids[0]}: {answer}")
                    with lock:
                        acknowledged.update(ids)
                        got[0] += 1
                b += 1

    threads = [
        threading.Thread(target=send, args=(w, kind))
        for w, kind in enumerate(("json", "arrow", "parquet"))
    ]
    for t in threads:
        t.start()
    target = rng.randint(acks // 2, acks)
    deadline = time.monotonic() + 60
    while got[0] < target and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.random() * 0.05)  # kill at a random point of a write, not between batches
    serve.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    return got[0]


def run(backend: str, cycles: int, acks: int, seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from vigil.store import open_store

    rng = random.Random(seed)
    acknowledged: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="vigil-durability-") as tmp:
        folder = Path(tmp)
        with store_url(backend, folder) as url:
            config = credit_config(folder, db=url, interval="1d")
            started = time.monotonic()
            for n in range(cycles):
                serve = ServeProcess(["--config", str(config)])
                serve.wait_ready()
                batches = cycle(serve, n, acks, acknowledged, rng)
                print(
                    f"{backend} cycle {n + 1}/{cycles}: {batches} batches acknowledged, "
                    f"{len(acknowledged)} records so far",
                    flush=True,
                )
            store = open_store(url)
            try:
                model = store.get_model("credit")
                assert model is not None
                window = store.read_window(model, "1", datetime(1970, 1, 1), datetime(9999, 1, 1))
                stored = window.column("__id").to_pylist()
            finally:
                store.close()
    lost = acknowledged - set(stored)
    doubled = len(stored) - len(set(stored))
    return {
        "backend": backend,
        "cycles": cycles,
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(lost),
        "stored_twice": doubled,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--acks", type=int, default=30, help="batches per cycle, at most")
    parser.add_argument("--backend", nargs="+", default=["duckdb", "postgres"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BENCH / "durability_results.json")
    args = parser.parse_args()
    results = [run(b, args.cycles, args.acks, args.seed) for b in args.backend]
    for r in results:
        print(json.dumps(r))
    args.out.write_text(
        json.dumps(
            {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "runs": results},
            indent=2,
        )
        + "\n"
    )
    if any(r["lost"] or r["stored_twice"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
