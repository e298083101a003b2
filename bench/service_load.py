"""The load side of bench/service.py: seeded data, and one process per measurement.

bench/service.py starts `vigil serve` and then runs this file as a separate process, so that
the client's work (HTTP, threads) is not counted in the server's process and the server's
GIL is its own. Every body is built and serialised before the clock starts. Each mode writes
its numbers as JSON to `--out`.

    python bench/service_load.py json --url http://127.0.0.1:PORT --concurrency 4 --out f.json
    python bench/service_load.py arrow|floor|stages|window|inmemory|sdk ...   (see --help)
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.ipc as ipc

MODEL = "bench"
N_FEATURES = 25
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
REFERENCE_SEED = 1
JSON_SEED = 2
ARROW_SEED = 3
WINDOW_SEED = 4
JSON_TEMPLATES = 200  # distinct JSON batches; ids get a pass prefix when they come round again
ARROW_TYPE = "application/vnd.apache.arrow.stream"


# -- data ---------------------------------------------------------------------------------


def spec_dict() -> dict[str, Any]:
    """The model's spec: 25 numeric features, a categorical prediction, a score, a target."""
    columns: dict[str, Any] = {name: {"role": "feature", "kind": "numeric"} for name in FEATURES}
    columns["pred"] = {"role": "prediction", "kind": "categorical"}
    columns["proba"] = {"role": "score", "kind": "numeric"}
    columns["y"] = {"role": "target", "kind": "categorical"}
    return {"version": 1, "task": "binary", "columns": columns}


def synth(seed: int, n: int, *, shift: float = 0.0) -> dict[str, np.ndarray]:
    """Features (normal, column i centred on i/10 with sd 1 + i/20), score, prediction, latency.

    `shift` moves f0 and f1 by that many standard deviations (the current data's drift).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(FEATURES):
        sd = 1.0 + i / 20
        moved = shift * sd if i < 2 else 0.0
        out[name] = rng.normal(i / 10 + moved, sd, n)
    proba = rng.uniform(0.0, 1.0, n)
    out["proba"] = proba
    out["pred"] = np.where(proba >= 0.5, "1", "0")
    out["latency_ms"] = rng.exponential(5.0, n)
    out["y"] = np.where(rng.uniform(0.0, 1.0, n) < proba, "1", "0")
    return out


def reference_table(rows: int) -> pa.Table:
    """The reference set: features, pred, proba and the target y."""
    data = synth(REFERENCE_SEED, rows)
    return pa.table({name: data[name] for name in [*FEATURES, "pred", "proba", "y"]})


def prediction_table(seed: int, n: int, prefix: str, t0: float, span: float) -> pa.Table:
    """A flat prediction body: id, timestamp[us] in [t0, t0 + span), latency_ms, f0..f24,
    pred, proba. Ids are `prefix` and the row number, so distinct prefixes never collide."""
    data = synth(seed, n, shift=0.3)
    rng = np.random.default_rng(seed + 1_000_000)
    micros = ((t0 + rng.uniform(0.0, span, n)) * 1e6).astype(np.int64)
    columns: dict[str, Any] = {
        "id": pa.array([f"{prefix}{i:07d}" for i in range(n)], pa.string()),
        "timestamp": pa.array(micros, pa.timestamp("us")),
        "latency_ms": data["latency_ms"],
    }
    columns |= {name: data[name] for name in FEATURES}
    columns["pred"] = pa.array(data["pred"], pa.string())
    columns["proba"] = data["proba"]
    return pa.table(columns)


def ipc_body(table: pa.Table) -> bytes:
    """A table as an Arrow IPC stream."""
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def json_templates(batch_size: int, now: float) -> list[bytes]:
    """JSON_TEMPLATES distinct batches of `batch_size` records, timestamps in the last 30 min.

    Ids are `P00-<batch>-<row>`; `json_body` rewrites `P00` for later passes.
    """
    bodies = []
    for b in range(JSON_TEMPLATES):
        data = synth(JSON_SEED * 100_000 + b, batch_size, shift=0.3)
        rng = np.random.default_rng(b)
        stamps = (now - rng.uniform(0.0, 1800.0, batch_size)).tolist()
        feats = [data[name].tolist() for name in FEATURES]
        preds, scores, lat = data["pred"].tolist(), data["proba"].tolist(), data["latency_ms"]
        lat = lat.tolist()
        records = [
            {
                "id": f"P00-{b:04d}-{i:05d}",
                "timestamp": stamps[i],
                "features": {name: feats[j][i] for j, name in enumerate(FEATURES)},
                "prediction": preds[i],
                "score": scores[i],
                "latency_ms": lat[i],
            }
            for i in range(batch_size)
        ]
        bodies.append(orjson.dumps({"records": records}))
    return bodies


def json_body(templates: list[bytes], i: int) -> bytes:
    """The i-th request's body: template i mod 200, its ids prefixed with the pass number."""
    body = templates[i % len(templates)]
    passed = i // len(templates)
    if passed == 0:
        return body
    return body.replace(b'"id":"P00-', b'"id":"P%02d-' % passed)


def columns_of(body: bytes) -> bytes:
    """A JSON records body as the SDK's columnar body (its own encoder)."""
    try:
        from vigil.client.columns import json_columns, plain_columns
    except ImportError:  # a checkout from before vigil.client.columns
        from vigil.client.wire import json_columns, plain_columns  # type: ignore[attr-defined,no-redef]

    columns = plain_columns(json.loads(body)["records"], "predictions")
    encoded = None if columns is None else json_columns(columns)
    if encoded is None:
        raise SystemExit("the bench's records do not fit a columnar body")
    return encoded


# -- measuring ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear), NaN for none."""
    return float(np.percentile(values, q)) if values else float("nan")


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


class Sampler:
    """CPU seconds of the server, of this process and of the machine at two moments, and
    optionally py-spy on the server between them (`profile`: where to write its stacks)."""

    def __init__(self, server_pid: int, profile: Path | None = None, *, gil: bool = False):
        self.server_pid = server_pid
        self.profile = profile
        self.gil = gil
        self.marks: list[tuple[float, float, float, float, float]] = []
        self._spy: Any = None

    def mark(self) -> None:
        busy, steal = machine_cpu()
        now, server, own = time.perf_counter(), cpu_seconds(self.server_pid), time.process_time()
        self.marks.append((now, server, own, busy, steal))
        if self.profile is not None and len(self.marks) == 1:
            self._start_spy()
        elif self._spy is not None and len(self.marks) == 2:
            self._spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            self._spy.wait(60)

    def _start_spy(self) -> None:
        spy = Path(sys.executable).parent / "py-spy"
        command = [str(spy), "record", "--pid", str(self.server_pid), "--rate", "200"]
        command += ["--format", "raw", "--threads", "--nonblocking", "--output", str(self.profile)]
        command += ["--gil"] if self.gil else []
        self._spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cores(self) -> dict[str, float]:
        """Cores used between the two marks: by the server, by this process, by the rest of
        the machine (other work that competed with the measurement), and stolen by the host."""
        (t0, s0, c0, b0, st0), (t1, s1, c1, b1, st1) = self.marks[0], self.marks[1]
        span = t1 - t0
        server, own = (s1 - s0) / span, (c1 - c0) / span
        return {
            "server_cores": server,
            "load_cores": own,
            "other_cores": max(0.0, (b1 - b0) / span - server - own),
            "steal_cores": (st1 - st0) / span,
        }


def post_until_taken(
    client: Any, url: str, body: bytes, content_type: str, counts: dict[str, int]
) -> tuple[float, float, dict[str, Any]]:
    """POST, backing off on 503 as told by Retry-After; (start, end, answer) of the last try."""
    while True:
        start = time.perf_counter()
        response = client.post(url, content=body, headers={"content-type": content_type})
        end = time.perf_counter()
        if response.status_code == 503:
            counts["503"] += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        if response.status_code != 200:
            raise SystemExit(f"POST {url}: HTTP {response.status_code}: {response.text[:300]}")
        return start, end, orjson.loads(response.content)


def drive(
    url: str,
    concurrency: int,
    body_of: Callable[[int], bytes | None],
    content_type: str,
    keep_going: Callable[[], bool],
) -> tuple[list[tuple[int, float, float, int, int]], dict[str, int]]:
    """`concurrency` threads, one connection each, posting body_of(0), body_of(1), ...

    Returns (index, start, end, accepted, duplicates + conflicts + rejected) per request.
    """
    import httpx

    counter = itertools.count()
    lock = threading.Lock()
    done: list[tuple[int, float, float, int, int]] = []
    counts = {"503": 0}

    def worker() -> None:
        with httpx.Client(timeout=300.0) as client:
            while keep_going():
                with lock:
                    i = next(counter)
                body = body_of(i)
                if body is None:
                    return
                start, end, answer = post_until_taken(client, url, body, content_type, counts)
                other = answer["duplicates"] + answer["conflicts"] + len(answer["rejected"])
                done.append((i, start, end, answer["accepted"], other))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, counts


def summarise(done: list[tuple[int, float, float, int, int]], since: float) -> dict[str, Any]:
    """Throughput and latency of the requests that started at `since` or later."""
    kept = [d for d in done if d[1] >= since]
    if not kept:
        return {"requests": 0}
    latencies = [(end - start) * 1000 for _, start, end, _, _ in kept]
    elapsed = max(end for _, _, end, _, _ in kept) - since
    accepted = sum(d[3] for d in kept)
    return {
        "requests": len(kept),
        "accepted": accepted,
        "not_accepted": sum(d[4] for d in kept),
        "seconds": elapsed,
        "records_per_s": accepted / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }


# -- modes ----------------------------------------------------------------------------------


def run_json(args: argparse.Namespace) -> dict[str, Any]:
    templates = json_templates(args.batch, args.now)
    replace_started = time.perf_counter()
    for i in range(JSON_TEMPLATES, 2 * JSON_TEMPLATES):
        json_body(templates, i)
    replace_us = (time.perf_counter() - replace_started) / JSON_TEMPLATES * 1e6
    url = f"{args.url}/v1/models/{MODEL}/predictions"
    sampler = Sampler(args.server_pid, args.profile, gil=args.gil)
    start = time.perf_counter()
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds

    def timer() -> None:
        time.sleep(max(0.0, measure_from - time.perf_counter()))
        sampler.mark()
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        sampler.mark()

    clock = threading.Thread(target=timer)
    clock.start()
    done, counts = drive(
        url,
        args.concurrency,
        lambda i: json_body(templates, i),
        "application/json",
        lambda: time.perf_counter() < stop_at,
    )
    clock.join()
    out = summarise(done, measure_from)
    return out | {
        "concurrency": args.concurrency,
        "batch": args.batch,
        "body_bytes": statistics.median(len(b) for b in templates),
        "id_rewrite_us_per_body": replace_us,
        "503": counts["503"],
        "warmup_s": args.warmup,
        "server_peak_mib": peak_rss_mib(args.server_pid),
        **sampler.cores(),
    }


def arrow_tables(requests: int, rows: int, now: float) -> list[pa.Table]:
    """The Arrow run's bodies as tables (also rebuilt by the floor): last 50 minutes."""
    return [
        prediction_table(ARROW_SEED * 100_000 + k, rows, f"A{k:04d}-", now - 3000.0, 3000.0)
        for k in range(requests)
    ]


def run_arrow(args: argparse.Namespace) -> dict[str, Any]:
    bodies: list[bytes] = [ipc_body(t) for t in arrow_tables(args.requests, args.rows, args.now)]
    url = f"{args.url}/v1/models/{MODEL}/predictions"
    sampler = Sampler(args.server_pid, args.profile, gil=args.gil)
    first_measured: list[float] = []

    def body_of(i: int) -> bytes | None:
        if i == args.warmup_requests:
            first_measured.append(time.perf_counter())
            sampler.mark()
        return bodies[i] if i < len(bodies) else None

    done, counts = drive(url, args.concurrency, body_of, ARROW_TYPE, lambda: True)
    sampler.mark()
    measured = [d for d in done if d[0] >= args.warmup_requests]
    out = summarise(measured, first_measured[0])
    return out | {
        "concurrency": args.concurrency,
        "rows_per_request": args.rows,
        "body_mib": statistics.median(len(b) for b in bodies) / 2**20,
        "warmup_requests": args.warmup_requests,
        "rows_sent": args.requests * args.rows,
        "503": counts["503"],
        "server_peak_mib": peak_rss_mib(args.server_pid),
        **sampler.cores(),
    }


def run_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The same Arrow tables inserted straight into DuckDB, with and without a primary key."""
    import duckdb

    tables = arrow_tables(args.requests, args.rows, args.now)
    columns = ["id VARCHAR", "timestamp TIMESTAMP", "latency_ms DOUBLE"]
    columns += [f"{name} DOUBLE" for name in FEATURES] + ["pred VARCHAR", "proba DOUBLE"]
    out: dict[str, Any] = {"rows": args.requests * args.rows, "batches": args.requests}
    variants = {
        "with_pk": (True, {}),
        "without_pk": (False, {}),
        # DuckDB checkpoints once the write-ahead log passes 16 MB: about every 100k-row commit
        "with_pk_checkpoint_1gb": (True, {"checkpoint_threshold": "1GB"}),
    }
    for name, (keyed, config) in variants.items():
        with tempfile.TemporaryDirectory() as folder:
            con = duckdb.connect(str(Path(folder) / "floor.duckdb"), config=config)
            body = ", ".join(columns) + (", PRIMARY KEY (id)" if keyed else "")
            con.execute(f"CREATE TABLE p ({body})")
            measured = []
            for k, table in enumerate(tables):
                started = time.perf_counter()
                con.register("batch", table)
                con.execute("INSERT INTO p SELECT * FROM batch")  # autocommit: one per batch
                con.unregister("batch")
                if k >= args.warmup_requests:
                    measured.append(time.perf_counter() - started)
            rows = (len(tables) - args.warmup_requests) * args.rows
            con.close()
        out[name] = {"seconds": sum(measured), "records_per_s": rows / sum(measured)}
    return out


def window_tables(rows: int, per_request: int, hour_start: float) -> list[pa.Table]:
    """The 1M-row window's bodies: every timestamp inside one closed hour."""
    return [
        prediction_table(WINDOW_SEED * 100_000 + k, per_request, f"W{k:04d}-", hour_start, 3599.0)
        for k in range(rows // per_request)
    ]


def run_window(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    tables = window_tables(args.rows, args.per_request, args.hour_start)
    bodies = [ipc_body(t) for t in tables]
    url = f"{args.url}/v1/models/{MODEL}"
    started = time.perf_counter()
    done, counts = drive(
        f"{url}/predictions",
        2,
        lambda i: bodies[i] if i < len(bodies) else None,
        ARROW_TYPE,
        lambda: True,
    )
    ingest_s = time.perf_counter() - started
    accepted = sum(d[3] for d in done)
    calls = []
    extra = tables[0].slice(0, 1)
    with httpx.Client(timeout=None) as client:
        for k in range(args.repeat):
            if k:  # one more row in the hour makes both windows due again
                row = extra.set_column(0, "id", pa.array([f"extra-{k}"], pa.string()))
                taken = client.post(
                    f"{url}/predictions",
                    content=ipc_body(row),
                    headers={"content-type": ARROW_TYPE},
                )
                taken.raise_for_status()
            cpu0 = cpu_seconds(args.server_pid)
            t0 = time.perf_counter()
            response = client.post(f"{url}/evaluate")
            seconds = time.perf_counter() - t0
            cpu = cpu_seconds(args.server_pid) - cpu0
            response.raise_for_status()
            answer = response.json()
            computed = answer["computed"]
            calls.append(
                {
                    "seconds": seconds,
                    "server_cpu_s": cpu,
                    "windows": [(c["kind"], c["rows"], c["status"]) for c in computed],
                    "skipped": answer["skipped"],
                    "failed": answer["failed"],
                }
            )
    return {
        "rows_ingested": accepted,
        "ingest_seconds": ingest_s,
        "ingest_503": counts["503"],
        "calls": calls,
        "server_peak_mib": peak_rss_mib(args.server_pid),
    }


def run_inmemory(args: argparse.Namespace) -> dict[str, Any]:
    """`vigil.evaluate` on the same reference and the same 1M rows, as the window sees them."""
    import vigil
    from vigil.spec import spec_from_dict

    spec = spec_from_dict(spec_dict())
    reference = reference_table(args.reference_rows)
    tables = window_tables(args.rows, args.per_request, args.hour_start)
    current = pa.concat_tables(tables).select([*FEATURES, "pred", "proba"])
    # the window's target is the labels joined so far: none here
    current = current.append_column("y", pa.nulls(current.num_rows, pa.string()))
    current = current.combine_chunks()
    times = []
    cpu = []
    status = None
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        report = vigil.evaluate(reference, current, spec)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        status = report.status
    return {"rows": current.num_rows, "seconds": times, "cpu_s": cpu, "status": status}


def run_sdk(args: argparse.Namespace) -> dict[str, Any]:
    """Per-call time of `Client.log_predictions` on the caller's thread, and records/s stored;
    with `--frame-rows N`, the calls log Arrow tables of N rows instead of one record each."""
    import gc

    import vigil

    if args.frame_rows:
        return _run_sdk_frames(args)

    data = synth(JSON_SEED, args.calls, shift=0.3)
    feats = [data[name].tolist() for name in FEATURES]
    preds, scores, lat = data["pred"].tolist(), data["proba"].tolist(), data["latency_ms"].tolist()
    stamp = args.now
    records = [
        {
            "id": f"S-{i:07d}",
            "timestamp": stamp - (i % 1800),
            "features": {name: feats[j][i] for j, name in enumerate(FEATURES)},
            "prediction": preds[i],
            "score": scores[i],
            "latency_ms": lat[i],
        }
        for i in range(args.calls)
    ]
    del feats
    gc.collect()
    gc.freeze()  # the bench's own 100k records would otherwise make every full collection slow
    client = vigil.Client(args.url, batch_size=args.batch)
    log = client.log_predictions
    clock = time.perf_counter_ns
    spent = [0] * args.calls
    started = time.perf_counter()
    for i, record in enumerate(records):
        t0 = clock()
        log(MODEL, record)
        spent[i] = clock() - t0
    calling_s = time.perf_counter() - started
    flushed = client.flush(timeout=args.flush_timeout)
    drained_s = time.perf_counter() - started
    client.close(timeout=2.0)
    stats = client.stats()
    micros = [s / 1000 for s in spent]
    return {
        "calls": args.calls,
        "median_us": percentile(micros, 50),
        "p99_us": percentile(micros, 99),
        "p999_us": percentile(micros, 99.9),
        "max_us": max(micros),
        "calling_s": calling_s,
        "flushed": flushed,
        "drained_s": drained_s,
        "batch_size": args.batch,
        "stored_per_s": stats.accepted / drained_s,
        "stats": {k: getattr(stats, k) for k in stats.__dataclass_fields__},
    }


def _run_sdk_frames(args: argparse.Namespace) -> dict[str, Any]:
    """`--calls` records logged as Arrow tables of `--frame-rows` rows (a batch-scoring job):
    the SDK sends them as Arrow IPC without a Python step per record."""
    import vigil

    count = max(1, args.calls // args.frame_rows)
    tables = [
        prediction_table(ARROW_SEED + k, args.frame_rows, f"F{k:04d}-", args.now - 1800, 1800.0)
        for k in range(count)
    ]
    # a batch job logs more than the default queue (100,000 records) at once: room for all
    client = vigil.Client(args.url, batch_size=args.batch, max_queue=count * args.frame_rows)
    started = time.perf_counter()
    for table in tables:
        client.log_predictions(MODEL, table, version="1")
    calling_s = time.perf_counter() - started
    flushed = client.flush(timeout=args.flush_timeout)
    drained_s = time.perf_counter() - started
    client.close(timeout=2.0)
    stats = client.stats()
    return {
        "calls": count,
        "frame_rows": args.frame_rows,
        "calling_s": calling_s,
        "flushed": flushed,
        "drained_s": drained_s,
        "stored_per_s": stats.accepted / drained_s,
        "stats": {k: getattr(stats, k) for k in stats.__dataclass_fields__},
    }


def run_stages(args: argparse.Namespace) -> dict[str, Any]:
    """The service's ingest steps called one after another on one thread, each timed.

    No HTTP and no threads: decode, validate and `write_predictions` on a fresh DuckDB file,
    with the backend's statements timed by kind. Uses vigil's internals (the same functions
    the ingest route calls), so it follows them when they change.
    """
    from contextlib import contextmanager
    from datetime import timedelta

    from vigil.ingest.columnar import decode_columns
    from vigil.ingest.decode import decode_json, decode_table
    from vigil.ingest.layout import layout_for
    from vigil.ingest.tables import validate_prediction_table
    from vigil.ingest.validate import TimeRules, validate_predictions
    from vigil.spec import spec_from_dict
    from vigil.store import open_store
    from vigil.store.duckdb import DuckDBBackend

    spent: dict[str, list[float]] = {}

    def timed(name: str, seconds: float) -> None:
        spent.setdefault(name, []).append(seconds)

    run, load, transaction = DuckDBBackend.run, DuckDBBackend.load, DuckDBBackend.transaction

    def timed_run(self: Any, sql: str, params: Any = ()) -> Any:
        t0 = time.perf_counter()
        try:
            return run(self, sql, params)
        finally:
            kind = "window upserts" if "INTO windows" in sql else f"SQL {sql.split()[0]}"
            timed(kind, time.perf_counter() - t0)

    def timed_load(self: Any, name: str, table: pa.Table) -> None:
        t0 = time.perf_counter()
        load(self, name, table)
        timed("register Arrow", time.perf_counter() - t0)

    @contextmanager
    def timed_transaction(self: Any) -> Any:
        with transaction(self):
            yield
            t0 = time.perf_counter()
        timed("COMMIT", time.perf_counter() - t0)

    DuckDBBackend.run = timed_run  # type: ignore[method-assign]
    DuckDBBackend.load = timed_load  # type: ignore[method-assign]
    DuckDBBackend.transaction = timed_transaction  # type: ignore[assignment,method-assign]
    spec = spec_from_dict(spec_dict())
    layout = layout_for(spec)
    out: dict[str, Any] = {}
    templates = json_templates(args.batch, args.now)
    cases = [("json", [json_body(templates, i) for i in range(args.requests)])]
    cases.append(("columns", [columns_of(json_body(templates, i)) for i in range(args.requests)]))
    arrow = arrow_tables(args.arrow_requests, args.rows, args.now)
    cases.append(("arrow", [ipc_body(t) for t in arrow]))
    del arrow
    for name, bodies in cases:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(Path(folder) / "stages.duckdb")
            model = store.register_model("bench", "1", spec.to_dict(), layout.stored(), "VARCHAR")
            spent.clear()
            group: list[pa.Table] = []
            for body in bodies:
                rules = TimeRules(
                    now=datetime_utcnow(),
                    lateness=timedelta(days=30),
                    max_future=timedelta(hours=1),
                )
                t0 = time.perf_counter()
                if name == "json":
                    records = decode_json(body)
                    t1 = time.perf_counter()
                    checked = validate_predictions(records, layout, ["1"], "1", rules)
                elif name == "columns":
                    table = decode_columns(body, layout, "predictions")
                    t1 = time.perf_counter()
                    checked = validate_prediction_table(table, layout, ["1"], "1", rules)
                else:
                    table = decode_table(body, "arrow")
                    t1 = time.perf_counter()
                    checked = validate_prediction_table(table, layout, ["1"], "1", rules)
                t2 = time.perf_counter()
                timed("decode", t1 - t0)
                timed("validate", t2 - t1)
                group.append(checked.table)
                if len(group) < args.group:
                    continue
                # the writer's group commit: `--group` queued batches in one call
                store.write_predictions(model, group, [], window_seconds=3600)
                spread = (time.perf_counter() - t2) / len(group)
                group.clear()
                for _ in range(args.group):
                    timed("write_predictions", spread)
            store.close()
        skip = len(bodies) // 10  # the first tenth warms up
        rows = checked.table.num_rows
        out[name] = {
            "rows_per_batch": rows,
            "batches_timed": len(bodies) - skip,
            "median_ms": {k: statistics.median(v[skip:]) * 1000 for k, v in spent.items()},
            "p99_ms": {k: percentile(v[skip:], 99) * 1000 for k, v in spent.items()},
            "max_ms": {k: max(v[skip:]) * 1000 for k, v in spent.items()},
            "mean_ms": {k: statistics.fmean(v[skip:]) * 1000 for k, v in spent.items()},
            "per_batch": {k: len(v) / len(bodies) for k, v in spent.items()},
        }
    out["json_threads"] = decode_validate_threads(templates, layout)
    return out


def decode_validate_threads(templates: list[bytes], layout: Any) -> dict[str, float]:
    """Records/s of JSON decode + validate alone (no HTTP, no store) on 1, 2 and 4 threads:
    what the GIL lets the service's thread pool do with this work."""
    from datetime import timedelta

    from vigil.ingest.decode import decode_json
    from vigil.ingest.validate import TimeRules, validate_predictions

    rules = TimeRules(
        now=datetime_utcnow(), lateness=timedelta(days=30), max_future=timedelta(hours=1)
    )

    def work(counter: Any, done: list[int], k: int, stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            records = decode_json(templates[next(counter) % len(templates)])
            done[k] += len(validate_predictions(records, layout, ["1"], "1", rules).table)

    out = {}
    for threads in (1, 2, 4):
        counter = itertools.count()
        done = [0] * threads
        started = time.perf_counter()
        pool = [
            threading.Thread(target=work, args=(counter, done, k, started + 6.0))
            for k in range(threads)
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        out[str(threads)] = sum(done) / (time.perf_counter() - started)
    return out


def datetime_utcnow() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)


def run_encode(args: argparse.Namespace) -> dict[str, Any]:
    """The SDK's side alone: what its sender thread spends making the columnar Arrow body of
    `--batch` records (the sdk mode's records), per record, in-process, no server. A checkout
    older than `vigil.client.columns` is timed on its own path (complete each record, then
    columns)."""
    import gc

    import vigil.client.wire as wire

    data = synth(JSON_SEED, args.batch, shift=0.3)
    feats = [data[name].tolist() for name in FEATURES]
    records = [
        {
            "id": f"S-{i:07d}",
            "timestamp": args.now - (i % 1800),
            "features": {name: feats[j][i] for j, name in enumerate(FEATURES)},
            "prediction": data["pred"][i].item(),
            "score": data["proba"][i].item(),
            "latency_ms": data["latency_ms"][i].item(),
        }
        for i in range(args.batch)
    ]
    n = len(records)
    gc.collect()
    gc.freeze()
    try:
        from vigil.client.columns import arrow_columns, batch_columns

        def columns() -> Any:
            return batch_columns(records, "predictions", [None] * n, [args.now] * n, ids)
    except ImportError:  # before the columns module: each record completed, then columns
        arrow_columns = wire.arrow_columns  # type: ignore[attr-defined]

        def columns() -> Any:
            done = [
                wire.complete_record(r, "predictions", None, args.now, i)
                for r, i in zip(records, ids, strict=True)
            ]
            return wire.plain_columns(done, "predictions")  # type: ignore[attr-defined]

    spent: dict[str, list[float]] = {"columns": [], "arrow": []}
    for _ in range(args.repeat):
        ids = wire.new_ids(n)
        t0 = time.perf_counter()
        made = columns()
        t1 = time.perf_counter()
        body = arrow_columns(made, pa)
        t2 = time.perf_counter()
        spent["columns"].append((t1 - t0) / n * 1e6)
        spent["arrow"].append((t2 - t1) / n * 1e6)
    return {
        "records": n,
        "body_bytes_per_record": len(body) / n,
        "median_us_per_record": {k: statistics.median(v) for k, v in spent.items()},
        "runs_us_per_record": spent,
    }


MODES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "encode": run_encode,
    "stages": run_stages,
    "json": run_json,
    "arrow": run_arrow,
    "floor": run_floor,
    "window": run_window,
    "inmemory": run_inmemory,
    "sdk": run_sdk,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--url")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--now", type=float, default=time.time(), help="epoch s the data is near")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1000, help="JSON records per request")
    parser.add_argument("--requests", type=int, default=40, help="Arrow bodies to send")
    parser.add_argument("--arrow-requests", type=int, default=10, help="Arrow bodies (stages)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per Arrow body / window")
    parser.add_argument("--warmup-requests", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=100_000)
    parser.add_argument("--hour-start", type=float, help="epoch s of the window's hour")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--group", type=int, default=1, help="stages: batches per write call")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument(
        "--frame-rows", type=int, default=0, help="sdk: log Arrow tables of this many rows"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the server while measuring")
    parser.add_argument("--gil", action="store_true", help="py-spy only the GIL's holder")
    parser.add_argument("--flush-timeout", type=float, default=120.0)
    args = parser.parse_args()
    result = MODES[args.mode](args)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
