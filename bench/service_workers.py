"""Ingest with `vigil serve --workers 1, 2, 4` on PostgreSQL, beside PostgreSQL's own COPY.

For each worker count: a fresh PostgreSQL database, `vigil serve --workers N` on it (the
scheduler's nudges off, so ingest is measured alone), the bench model of service_load.py
(25 numeric features) registered with a 20,000-row reference. Then JSON bodies and Arrow
IPC bodies of `--rows` records each, posted by `--clients` load processes of `--threads`
connections each (every body built before the clock starts; ids unique across processes).
Measured over `--seconds` after `--warmup`: records/s, request latency p50/p99, and the CPU
cores taken by the vigil processes (parent + workers), by this database's PostgreSQL
backends plus its WAL writer, checkpointer and background writer, by the load processes,
and by everything else on the machine. Beside them, in the same run: the same Arrow rows
COPY'd into a keyed table by one client, a commit per body.

    python bench/service_workers.py --out bench/service_workers.json
    python bench/service_workers.py --workers 1 2 4 --seconds 20 --clients 3 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from service_load import (
    ARROW_SEED,
    ARROW_TYPE,
    FEATURES,
    MODEL,
    cpu_seconds,
    ipc_body,
    json_templates,
    machine_cpu,
    percentile,
    prediction_table,
    reference_table,
    spec_dict,
)

SERVER = os.environ.get("VIGIL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
VIGIL = Path(sys.executable).parent / "vigil"


def database_url(name: str) -> str:
    return SERVER.rsplit("/", 1)[0] + f"/{name}"


# -- load processes -------------------------------------------------------------------------


def json_bodies(proc: int, rows: int, count: int, now: float) -> list[bytes]:
    templates = json_templates(rows, now)
    out = []
    for i in range(count):
        body = templates[i % len(templates)]
        out.append(body.replace(b'"id":"P00-', b'"id":"L%dP%03d-' % (proc, i // len(templates))))
    return out


def arrow_bodies(proc: int, rows: int, count: int, now: float) -> list[bytes]:
    return [
        ipc_body(
            prediction_table(
                ARROW_SEED * 100_000 + proc * 10_000 + k,
                rows,
                f"L{proc}A{k:05d}-",
                now - 3000,
                3000,
            )
        )
        for k in range(count)
    ]


# -- the service and PostgreSQL ---------------------------------------------------------------


def postgres_pids(conn: Any, database: str) -> list[int]:
    """This database's backends and the server's WAL writer, checkpointer and bgwriter."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s OR backend_type IN "
        "('walwriter', 'checkpointer', 'background writer')",
        (database,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(FileNotFoundError):
            todo += [int(x) for x in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return out


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            out[pid] = cpu_seconds(pid)
    return out


class Vigil:
    """`vigil serve --workers N` on a fresh database, the bench model registered."""

    def __init__(self, folder: Path, database: str, workers: int, reference: bytes) -> None:
        self.url_db = database_url(database)
        with socket_port() as port:
            self.port = port
        config = {
            "db": self.url_db,
            "interval": "1h",
            "alerts": {"evaluate_after": "off"},
        }
        (folder / "vigil.yaml").write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.log = (folder / f"serve-{workers}.log").open("wb")
        command = [str(VIGIL), "serve", "--config", str(folder / "vigil.yaml")]
        command += ["--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"vigil serve did not start: {self.log.name}")
            started = (folder / f"serve-{workers}.log").read_text().count(" started (pid ")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).is_success and (
                    workers == 1 or started == workers
                ):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        seen: set[str] = set()  # every worker answered: none is still starting
        while workers > 1 and len(seen) < workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"only workers {sorted(seen)} answered: {self.log.name}")
            threads = [threading.Thread(target=self._readyz, args=(seen,)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        with httpx.Client(base_url=self.url, timeout=300) as client:
            body = {"name": MODEL, "version": "1", "spec": spec_dict()}
            client.post("/v1/models", json=body).raise_for_status()
            client.put(
                f"/v1/models/{MODEL}/reference",
                content=reference,
                headers={"content-type": "application/vnd.apache.parquet"},
            ).raise_for_status()

    def _readyz(self, seen: set[str]) -> None:
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(self.url + "/readyz", timeout=10)
            if r.is_success:
                seen.add(r.headers["x-vigil-worker"])

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(180)
        self.log.close()
        return code


class socket_port:  # a context manager used as a function
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def measure(
    args: argparse.Namespace, vigil: Vigil, database: str, kind: str, folder: Path
) -> dict[str, Any]:
    """One kind of body against one running service: the load processes and the CPU."""
    import psycopg

    now = time.time()
    rate_guess = 60_000 if kind == "arrow" else 40_000  # bodies enough for this rate
    per_proc = int(rate_guess * (args.seconds + args.warmup) / args.rows / args.clients) + 20
    procs, outs = [], []
    control = folder / f"start-{kind}"
    for stale in (control, *folder.glob(f"ready-{kind}-*")):  # from the previous worker count
        stale.unlink(missing_ok=True)
    for p in range(args.clients):
        out, ready = folder / f"load-{kind}-{p}.json", folder / f"ready-{kind}-{p}"
        outs.append(out)
        command = [sys.executable, __file__, "load", "--kind", kind, "--proc", str(p)]
        command += ["--url", f"{vigil.url}/v1/models/{MODEL}/predictions"]
        command += ["--rows", str(args.rows), "--bodies", str(per_proc), "--now", str(now)]
        command += ["--threads", str(args.threads), "--ready", str(ready), "--out", str(out)]
        command += ["--control", str(control)]
        procs.append((subprocess.Popen(command), ready))
    while not all(ready.exists() for _, ready in procs):
        if any(p.poll() is not None for p, _ in procs):
            raise SystemExit("a load process failed")
        time.sleep(0.05)
    start = time.time() + 1
    stop = start + args.warmup + args.seconds
    control.write_text(json.dumps({"start": start, "stop": stop}))
    measure_from = start + args.warmup
    with psycopg.connect(SERVER, autocommit=True) as admin:
        time.sleep(max(0.0, measure_from - time.time()))
        vigil_pids = process_tree(vigil.process.pid)
        pg_pids = postgres_pids(admin, database)
        load_pids = [p.pid for p, _ in procs]
        t0, busy0 = time.monotonic(), machine_cpu()[0]
        v0, g0, l0 = cpu_of(vigil_pids), cpu_of(pg_pids), cpu_of(load_pids)
        time.sleep(max(0.0, stop - time.time()))
        pg_pids = postgres_pids(admin, database)
        t1, busy1 = time.monotonic(), machine_cpu()[0]
        v1, g1, l1 = cpu_of(vigil_pids), cpu_of(pg_pids), cpu_of(load_pids)
    for p, _ in procs:
        if p.wait(600) != 0:
            raise SystemExit("a load process failed")
    span = t1 - t0

    def cores(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(after[p] - before.get(p, 0.0) for p in after) / span

    done: list[tuple[float, float, int]] = []
    refused, ran_out = 0, False
    for out in outs:
        data = json.loads(out.read_text())
        done += [tuple(d) for d in data["done"]]  # type: ignore[misc]
        refused += data["refused"]
        ran_out |= data["ran_out"]
    kept = [d for d in done if d[0] >= measure_from]  # started in the measured span
    if not kept:
        raise SystemExit(f"no request started in the measured span ({len(done)} in all)")
    latencies = [(e - s) * 1000 for s, e, _ in kept]
    vigil_cores, pg_cores, load_cores = cores(v0, v1), cores(g0, g1), cores(l0, l1)
    return {
        "kind": kind,
        "requests": len(kept),
        "records_per_s": sum(d[2] for d in kept) / (max(e for _, e, _ in kept) - measure_from),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "refused_503": refused,
        "ran_out_of_bodies": ran_out,
        "vigil_cores": vigil_cores,
        "postgres_cores": pg_cores,
        "load_cores": load_cores,
        "other_cores": max(0.0, (busy1 - busy0) / span - vigil_cores - pg_cores - load_cores),
    }


def copy_floor(args: argparse.Namespace, database: str) -> dict[str, Any]:
    """The Arrow bench rows COPY'd (CSV) by one client into a keyed table, a commit per body."""
    import psycopg

    now = time.time()
    count = max(20, int(200_000 / args.rows))
    tables = [
        prediction_table(ARROW_SEED * 100_000 + k, args.rows, f"F{k:05d}-", now - 3000, 3000)
        for k in range(count)
    ]
    bodies = []
    for table in tables:
        sink = io.BytesIO()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
        bodies.append(sink.getvalue())
    columns = ["id VARCHAR PRIMARY KEY", "ts TIMESTAMP NOT NULL", "latency_ms DOUBLE PRECISION"]
    columns += [f"{name} DOUBLE PRECISION" for name in FEATURES]
    columns += ["pred VARCHAR", "proba DOUBLE PRECISION"]
    with psycopg.connect(database_url(database)) as conn:
        conn.execute(f"CREATE TABLE floor ({', '.join(columns)})")
        conn.commit()
        started = time.perf_counter()
        for body in bodies:
            with conn.cursor().copy("COPY floor FROM STDIN (FORMAT csv)") as copy:
                copy.write(body)
            conn.commit()
        seconds = time.perf_counter() - started
    rows = count * args.rows
    return {"rows": rows, "bodies": count, "seconds": seconds, "records_per_s": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "load"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--kinds", nargs="+", default=["json", "arrow"])
    parser.add_argument("--rows", type=int, default=1000, help="records per request")
    parser.add_argument("--clients", type=int, default=3, help="load processes")
    parser.add_argument("--threads", type=int, default=2, help="connections per load process")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--out", type=Path)
    # the load processes' own options
    parser.add_argument("--kind", choices=["json", "arrow"])
    parser.add_argument("--proc", type=int)
    parser.add_argument("--url")
    parser.add_argument("--bodies", type=int)
    parser.add_argument("--now", type=float)
    parser.add_argument("--ready")
    parser.add_argument("--control")
    args = parser.parse_args()
    if args.mode == "load":
        control = Path(args.control)
        # built first, then wait for the start and stop times the bench writes
        make = json_bodies if args.kind == "json" else arrow_bodies
        args.prebuilt = make(args.proc, args.rows, args.bodies, args.now)
        Path(args.ready).touch()
        while not control.exists():
            time.sleep(0.01)
        times = json.loads(control.read_text())
        args.start, args.stop = times["start"], times["stop"]
        run_prebuilt(args)
        return
    import psycopg

    sink = io.BytesIO()
    pq.write_table(reference_table(20_000), sink)
    reference = sink.getvalue()
    results: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "options": {
            k: v
            for k, v in vars(args).items()
            if k in ("rows", "clients", "threads", "seconds", "warmup", "workers")
        },
        "runs": [],
    }
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(SERVER, autocommit=True) as admin:
        results["postgres"] = admin.execute("SHOW server_version").fetchone()[0]
        settings = ("synchronous_commit", "shared_buffers", "wal_level", "fsync", "max_connections")
        results["postgres_settings"] = {
            s: admin.execute(f"SHOW {s}").fetchone()[0] for s in settings
        }
    with tempfile.TemporaryDirectory(prefix="vigil-workers-") as tmp:
        folder = Path(tmp)
        for n in args.workers:
            database = f"vigil_bench_{tag}_{n}"
            with psycopg.connect(SERVER, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {database}")
            try:
                vigil = Vigil(folder, database, n, reference)
                try:
                    for kind in args.kinds:
                        run = {"workers": n, **measure(args, vigil, database, kind, folder)}
                        print(json.dumps(run), flush=True)
                        results["runs"].append(run)
                finally:
                    run_code = vigil.stop()
                    results.setdefault("exit_codes", {})[str(n)] = run_code
            finally:
                with psycopg.connect(SERVER, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        database = f"vigil_bench_{tag}_copy"
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {database}")
        try:
            results["copy_floor"] = copy_floor(args, database)
            print(json.dumps({"copy_floor": results["copy_floor"]}), flush=True)
        finally:
            with psycopg.connect(SERVER, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


def run_prebuilt(args: argparse.Namespace) -> None:
    """The load loop over bodies built before the clock started."""
    bodies: list[bytes] = args.prebuilt
    content_type = "application/json" if args.kind == "json" else ARROW_TYPE
    while time.time() < args.start:
        time.sleep(0.002)
    lock = threading.Lock()
    done: list[tuple[float, float, int]] = []
    refused = [0]
    order = iter(range(len(bodies)))

    def post() -> None:
        with httpx.Client(timeout=300) as client:
            while time.time() < args.stop:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                started = time.time()
                r = client.post(args.url, content=bodies[i], headers={"content-type": content_type})
                ended = time.time()
                if r.status_code == 503:
                    refused[0] += 1
                    time.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                if r.status_code != 200:
                    raise SystemExit(f"HTTP {r.status_code}: {r.text[:300]}")
                with lock:
                    done.append((started, ended, r.json()["accepted"]))

    threads = [threading.Thread(target=post) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"done": done, "refused": refused[0], "ran_out": next(order, None) is None}
    Path(args.out).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
