"""Time `vigil serve`: ingest (JSON and Arrow), the SDK's log call, and a 1M-row window.

Each measurement gets its own server — `vigil serve` on a free loopback port with a fresh
DuckDB file in a temporary folder — and drives it from a separate process
(bench/service_load.py), so client and server never share a GIL; on a 2-core machine they do
share the cores, and the table says how many each used and how many other work on the machine
took (each measurement first waits, up to 3 minutes, for the machine to be quiet). The
scheduler's interval is set to a day, and the evaluation that new rows bring is off
(`alerts.evaluate_after`), so that no window is computed behind the measurement's
back; the 1M-row window is computed on request (POST /v1/models/bench/evaluate) and compared
with `vigil.evaluate` on the same data in memory. The `stages` step calls the ingest route's
functions one after another on one thread (no HTTP) to show where a batch's time goes.
Writes bench/service_results.json and prints markdown tables.

    .venv/bin/python bench/service.py --seconds 20
    .venv/bin/python bench/service.py --seconds 20 --profile /tmp/profiles  # + py-spy runs
    .venv/bin/python bench/service.py --only json --concurrency 4 --runs 1   # one case
    .venv/bin/python bench/service.py --only window \
        --postgres postgresql://postgres@127.0.0.1:5432/test --out /tmp/window_pg.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"
LOAD = BENCH / "service_load.py"
sys.path.insert(0, str(BENCH))

from service_load import (  # noqa: E402
    MODEL,
    machine_cpu,
    prediction_table,
    reference_table,
    spec_dict,
)

PACKAGES = ("vigil-monitor", "fastapi", "starlette", "uvicorn", "h11", "duckdb", "pyarrow")
PACKAGES += ("numpy", "orjson", "pydantic", "httpx")
# no scheduler tick during a measurement: nor the one new rows bring (alerts.evaluate_after)
CONFIG = "interval: 1d\nalerts: {evaluate_after: 'off'}\n"


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, kernel, Python and the versions of what the service runs on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except Exception:
            versions[name] = "absent"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "uvloop": find_spec("uvloop") is not None,
        "httptools": find_spec("httptools") is not None,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A `vigil serve` child with the bench model registered and its reference stored."""

    def __init__(self, folder: Path, reference: bytes, db: str | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "vigil.yaml").write_text(CONFIG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.log = (folder / "serve.log").open("wb")
        store = db or str(folder / "bench.duckdb")
        command = [str(VENV_BIN / "vigil"), "serve", "--db", store]
        command += ["--port", str(self.port), "--config", str(folder / "vigil.yaml")]
        self.process = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.pid = self.process.pid
        self._wait_ready()
        with httpx.Client(base_url=self.url, timeout=120.0) as client:
            body = {"name": MODEL, "version": "1", "spec": spec_dict()}
            client.post("/v1/models", json=body).raise_for_status()
            client.put(
                f"/v1/models/{MODEL}/reference",
                content=reference,
                headers={"content-type": "application/vnd.apache.parquet"},
            ).raise_for_status()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"vigil serve exited: {(self.folder / 'serve.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise SystemExit("vigil serve did not answer /healthz within 60 s")

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful stop: the writer drains, the store closes), then KILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextlib.contextmanager
def serving(reference: bytes) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as folder, postgres_schema() as db:
        server = Server(Path(folder), reference, db)
        try:
            yield server
        finally:
            server.stop()


POSTGRES: list[str] = []  # --postgres: the database each server's store gets a schema in
QUIET_WAIT: list[float] = []  # --quiet-wait: the longest wait for a quiet machine


@contextlib.contextmanager
def postgres_schema() -> Iterator[str | None]:
    """With --postgres, the URL of a fresh schema there (dropped afterwards); else None."""
    if not POSTGRES:
        yield None
        return
    import psycopg

    url = POSTGRES[0]
    name = f"vigil_bench_{os.getpid()}_{int(time.time() * 1000)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            separator = "&" if "?" in url else "?"
            yield f"{url}{separator}options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def busy_cores(seconds: float = 2.0) -> float:
    """Cores the whole machine kept busy (steal aside) over the next `seconds`."""
    before, _ = machine_cpu()
    time.sleep(seconds)
    after, _ = machine_cpu()
    return (after - before) / seconds


def wait_for_quiet(limit: float = 180.0, quiet: float = 0.3) -> float:
    """Wait (at most `limit` s) until other work on the machine stops; the seconds waited.

    Other sessions share this machine; a measurement on 2 cores is only worth taking alone.
    """
    started = time.monotonic()
    while (busy := busy_cores()) > quiet and time.monotonic() - started < limit:
        print(f"  waiting: the machine keeps {busy:.2f} cores busy", flush=True)
    return time.monotonic() - started


def load(mode: str, *options: object) -> dict[str, Any]:
    """Run one measurement of bench/service_load.py in its own process; its JSON result."""
    waited = wait_for_quiet(*QUIET_WAIT)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [str(VENV_BIN / "python"), str(LOAD), mode, "--out", out.name]
        subprocess.run(command + [str(o) for o in options], check=True)
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
        result["quiet_wait_s"] = waited
        return result


CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("JSON parse (orjson, key count)", ("decode_json ", "_decode_fast ")),
    ("Arrow IPC decode", ("decode_table ",)),
    ("validate: JSON values to Arrow columns", ("_convert_fast ", "_convert ")),
    ("validate: per-record Python walk", ("validate_predictions", "_collect ", "_attempt ")),
    ("validate: per-record Python walk", ("_timestamp ", "parse_time ", "_record_id ")),
    ("validate: table checks (Arrow compute)", ("validate_prediction_table ", "_typed ")),
    ("validate: table checks (Arrow compute)", ("_times ", "_ids ", "_mask ", "_rejections ")),
    ("DuckDB: COMMIT", ("DuckDBBackend.transaction ",)),
    ("DuckDB: statements", ("DuckDBBackend.run ", "DuckDBBackend.arrow ")),
    ("DuckDB: register Arrow", ("DuckDBBackend.load ", "DuckDBBackend.unload ")),
    ("writer: Python around the store", ("Writes.", "Windows.", "buckets ", "Writer.")),
    ("writer: Python around the store", ("constant_time ", "concatenated ")),
    ("reading the body", ("read_body ",)),
    ("HTTP: uvicorn + h11", ("h11/", "uvicorn/protocols")),
    ("framework: Starlette, FastAPI, anyio", ("starlette/", "fastapi/", "anyio/", "pydantic")),
    ("answer and counters", ("_answer ", "prometheus_client/")),
    ("event loop (asyncio)", ("asyncio/", "selectors.py")),
]


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """The samples of a py-spy raw file: (frames outermost first, count)."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        out.append((frames, int(count)))
    return out


def categories(path: Path) -> dict[str, float]:
    """Share of the samples per step of the request; the innermost frame that names a step
    decides (so DuckDB inside the writer counts as DuckDB)."""
    shares: Counter[str] = Counter()
    total = 0
    for frames, count in read_stacks(path):
        total += count
        found = "other"
        for frame in reversed(frames):
            found = next((n for n, keys in CATEGORIES if any(k in frame for k in keys)), "")
            if found:
                break
        shares[found or "other"] += count
    return {name: n / total for name, n in shares.most_common()} if total else {}


def samples(path: Path) -> int:
    """How many samples a py-spy raw file holds."""
    return sum(count for _, count in read_stacks(path))


def top_frames(path: Path, n: int = 30) -> list[tuple[str, float, float]]:
    """(function, inclusive share, self share) of the samples in a py-spy raw file."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for frames, count in read_stacks(path):
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return [(f, c / total, own[f] / total) for f, c in inclusive.most_common(n)]


# -- the measurements -----------------------------------------------------------------------

SUMMED = ("503",)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over runs (sums for counts of refusals), and the records/s range."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            values = [r[key] for r in runs]
            out[key] = sum(values) if key in SUMMED else statistics.median(values)
    rates = [r["records_per_s"] for r in runs]
    out["records_per_s_range"] = [min(rates), max(rates)]
    return out


def json_options(args: argparse.Namespace, server: Server, now: float, c: int) -> list[object]:
    return [
        "--url", server.url, "--server-pid", server.pid, "--now", now, "--concurrency", c,
        "--seconds", args.seconds, "--warmup", args.warmup,
    ]  # fmt: skip


def arrow_options(args: argparse.Namespace, now: float) -> list[object]:
    return [
        "--now", now, "--requests", args.arrow_requests, "--rows", args.arrow_rows,
        "--warmup-requests", args.arrow_warmup,
    ]  # fmt: skip


def measure_json(args: argparse.Namespace, reference: bytes, now: float) -> list[dict[str, Any]]:
    results = []
    for concurrency in args.concurrency:
        runs = []
        for _ in range(args.runs):
            with serving(reference) as server:
                runs.append(load("json", *json_options(args, server, now, concurrency)))
            print(f"json c={concurrency}: {runs[-1]['records_per_s']:,.0f} rec/s", flush=True)
        results.append({"concurrency": concurrency, "runs": runs, "median": medians(runs)})
    return results


def measure_arrow(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    results = []
    for concurrency in args.arrow_concurrency:
        runs = []
        for _ in range(args.runs):
            with serving(reference) as server:
                target = ["--url", server.url, "--server-pid", server.pid]
                options = [*target, "--concurrency", concurrency, *arrow_options(args, now)]
                runs.append(load("arrow", *options))
            print(f"arrow c={concurrency}: {runs[-1]['records_per_s']:,.0f} rec/s", flush=True)
        results.append({"concurrency": concurrency, "runs": runs, "median": medians(runs)})
    floors = [load("floor", *arrow_options(args, now)) for _ in range(args.runs)]
    floor = {
        key: {"records_per_s": statistics.median(f[key]["records_per_s"] for f in floors)}
        for key in floors[0]
        if isinstance(floors[0][key], dict)
    }
    print(f"floor: {floor['with_pk']['records_per_s']:,.0f} rec/s with the key", flush=True)
    return {"concurrency": results, "floor": floor, "floor_runs": floors}


def measure_stages(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    """The ingest steps one after another in one thread, no HTTP (service_load.py stages)."""
    result = load("stages", "--now", now, "--requests", 300, "--arrow-requests", 10)
    print("stages: done", flush=True)
    return result


def measure_sdk(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    if find_spec("vigil.client") is None:
        return {"skipped": "src/vigil/client.py does not exist"}
    common = ["--calls", args.sdk_calls, "--now", now, "--batch", args.sdk_batch]
    with serving(reference) as server:
        served = load("sdk", "--url", server.url, *common)
    alone = load("sdk", "--url", f"http://127.0.0.1:{free_port()}", "--flush-timeout", 1, *common)
    print(
        f"sdk: {served['median_us']:.1f} µs median, {served['p999_us']:.0f} µs p99.9 per call; "
        f"{served['stored_per_s']:,.0f} records/s stored",
        flush=True,
    )
    frames = ["--calls", args.sdk_frame_calls, "--now", now, "--batch", args.sdk_batch]
    with serving(reference) as server:
        framed = load("sdk", "--url", server.url, "--frame-rows", args.sdk_frame_rows, *frames)
    print(
        f"sdk, Arrow tables of {args.sdk_frame_rows:,} rows: "
        f"{framed['stored_per_s']:,.0f} records/s stored",
        flush=True,
    )
    return {"server": served, "no_server": alone, "frames": framed}


def measure_window(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    hour_start = (now // 3600 - 1) * 3600  # the last closed hour: the window is due
    common = ["--rows", args.window_rows, "--per-request", args.arrow_rows]
    common += ["--hour-start", hour_start, "--repeat", args.repeat]
    with serving(reference) as server:
        served = load("window", "--url", server.url, "--server-pid", server.pid, *common)
    in_memory = load("inmemory", "--reference-rows", args.reference_rows, *common)
    per_window = [c["seconds"] / max(1, len(c["windows"])) for c in served["calls"]]
    ratio = statistics.median(per_window) / statistics.median(in_memory["seconds"])
    print(f"window: {ratio:.2f}x in-memory per window", flush=True)
    return {"service": served, "in_memory": in_memory, "ratio_per_window": ratio}


# -- windows in process: a window's cost by reference size, and a batch of late labels -------


def _window_setup(
    folder: Path, reference_rows: int, hours: int, rows: int, rolling: int | None = None
) -> Any:
    """A DuckDB store in `folder` holding the bench model, a reference of `reference_rows`
    rows and `hours` tumbling windows of `rows` rows each; with a Monitor whose clock is past
    them (and a rolling window of `rolling` seconds, if given). Imports vigil here:
    `PYTHONPATH=<checkout>/src` measures another checkout."""
    from vigil.ingest.layout import layout_for
    from vigil.monitor.scheduler import Monitor
    from vigil.monitor.windows import WindowPlan
    from vigil.spec import spec_from_dict
    from vigil.store import open_store

    store = open_store(folder / "w.duckdb")
    spec = spec_from_dict(spec_dict())
    model = store.register_model(MODEL, "1", spec.to_dict(), layout_for(spec).stored(), "DOUBLE")
    sink = io.BytesIO()
    pq.write_table(reference_table(reference_rows), sink)
    store.put_reference(model, "1", sink.getvalue(), reference_rows)
    start = datetime(2026, 11, 2, tzinfo=timezone.utc).replace(tzinfo=None)
    for hour in range(hours):
        t0 = (start + timedelta(hours=hour)).replace(tzinfo=timezone.utc).timestamp()
        body = prediction_table(100 + hour, rows, f"h{hour}-", t0, 3600.0)
        body = body.append_column("model_version", pa.array(["1"] * rows))
        body = body.append_column("error", pa.nulls(rows, pa.string()))
        store.write_predictions(model, [body], [], window_seconds=3600)
    plan = WindowPlan(rolling_seconds=rolling, min_rows=10)
    clock_now = start + timedelta(hours=hours + 1)
    monitor = Monitor(store, {}, default_plan=plan, clock=lambda: clock_now)
    return store, model, monitor, start


def _evaluate_only(reference_rows: int, rows: int) -> dict[str, float]:
    """Median seconds of `evaluate` alone on a window's rows (no store, no report JSON), against
    the reference itself and, where the checkout has it, a `PreparedReference` (5 calls each,
    one BLAS thread as the scheduler runs them)."""
    from threadpoolctl import threadpool_limits

    from vigil import evaluation
    from vigil.spec import spec_from_dict

    spec = spec_from_dict(spec_dict())
    reference = reference_table(reference_rows)
    current = prediction_table(7, rows, "e", 0.0, 3600.0).drop_columns(["timestamp"])
    sides: dict[str, Any] = {"evaluate_fresh_s": reference}
    if hasattr(evaluation, "PreparedReference"):
        sides["evaluate_prepared_s"] = evaluation.PreparedReference(reference, spec)
    out = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for name, side in sides.items():
            evaluation.evaluate(side, current, spec)  # the first call prepares
            seconds = []
            for _ in range(5):
                t = time.perf_counter()
                evaluation.evaluate(side, current, spec)
                seconds.append(time.perf_counter() - t)
            out[name] = statistics.median(seconds)
    print(
        f"evaluate alone, {rows} rows vs {reference_rows:,}: "
        + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in out.items()),
        flush=True,
    )
    return out


def measure_window_cost(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    """Seconds per 500-row window against references of each size, window by window (each
    recomputed alone: `Monitor.backfill` over its hour, after a first tick that computed them
    all and, where the checkout keeps prepared references, prepared the reference)."""
    out: dict[str, Any] = {}
    for size in args.window_reference_rows:
        with tempfile.TemporaryDirectory() as folder:
            store, model, monitor, start = _window_setup(
                Path(folder), size, args.window_count, args.window_size
            )
            t = time.perf_counter()
            monitor.tick()  # every window is new: computed once, and the reference prepared
            first_tick = time.perf_counter() - t
            seconds = []
            for hour in range(args.window_count):
                since = start + timedelta(hours=hour)
                t = time.perf_counter()
                summary = monitor.backfill(model, since, since + timedelta(hours=1))
                seconds.append(time.perf_counter() - t)
                assert len(summary.computed) == 1, len(summary.computed)
            store.close()
        out[str(size)] = {
            **_evaluate_only(size, args.window_size),
            "first_tick_s": first_tick,
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "max_s": max(seconds),
            "windows": len(seconds),
        }
        print(
            f"window cost: {args.window_size} rows vs {size:,}-row reference: first tick "
            f"({args.window_count} windows) {first_tick:.2f} s, then per window median "
            f"{statistics.median(seconds) * 1e3:.1f} ms (min {min(seconds) * 1e3:.1f}, max "
            f"{max(seconds) * 1e3:.1f})",
            flush=True,
        )
    return out


def measure_labels(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    """One label batch touching `--label-windows` computed windows: the seconds of the tick
    that brings them up to date (and of the tick that first computed them)."""
    hours = args.label_windows
    rolling = 7 * 86400 if args.label_rolling else None  # the default plan's rolling window
    windows = hours + (1 if rolling else 0)
    with tempfile.TemporaryDirectory() as folder:
        store, model, monitor, start = _window_setup(Path(folder), 20_000, hours, 500, rolling)
        t = time.perf_counter()
        first = monitor.tick()
        first_s = time.perf_counter() - t
        assert len(first.computed) == windows, len(first.computed)
        ids, times = [], []
        for hour in range(hours):
            for i in range(0, 500, 25):  # 20 labels per window
                ids.append(f"h{hour}-{i:07d}")
                times.append(start + timedelta(hours=hour, minutes=59))
        labels = pa.table(
            {
                "id": ids,
                "label": pa.array(["1" if i % 2 else "0" for i in range(len(ids))]),
                "timestamp": pa.array(times, pa.timestamp("us")),
            }
        )
        t = time.perf_counter()
        store.write_labels(model, [labels], [], window_seconds=3600)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        after = monitor.tick()
        tick_s = time.perf_counter() - t
        assert len(after.computed) == windows, len(after.computed)
        # windows brought up to date from their kept reports (a checkout that has them)
        from_labels = sum(getattr(r, "from_labels", False) for r in after.computed)
        store.close()
    print(
        f"labels: one batch of {len(ids)} labels over {hours} windows"
        f"{' and the 7-day rolling window' if rolling else ''}: write {write_s:.2f} s, "
        f"tick {tick_s:.2f} s ({tick_s / hours * 1e3:.0f} ms per window, {from_labels} from "
        f"their kept reports; first tick {first_s:.2f} s)",
        flush=True,
    )
    return {
        "windows": hours,
        "labels": len(ids),
        "write_s": write_s,
        "tick_s": tick_s,
        "per_window_s": tick_s / hours,
        "first_tick_s": first_s,
        "from_labels": from_labels,
        "rolling": rolling,
    }


def measure_profiles(args: argparse.Namespace, reference: bytes, now: float) -> dict[str, Any]:
    """Extra runs with py-spy on the server during the measured span (not the table's
    numbers): every running thread, then only the GIL's holder."""
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for case in args.profile_cases:
        for gil in (False, True):
            name = case + ("_gil" if gil else "")
            path = folder / f"{name}.txt"
            with serving(reference) as server:
                if case == "json_c4":
                    options = json_options(args, server, now, 4)
                else:
                    options = ["--url", server.url, "--server-pid", server.pid]
                    options += ["--concurrency", 2, *arrow_options(args, now)]
                mode = case.split("_")[0]
                result = load(mode, *options, "--profile", path, *(["--gil"] if gil else []))
            span = result["seconds"]
            out[name] = {
                "records_per_s": result["records_per_s"],
                "server_cores": result["server_cores"],
                # with --gil py-spy takes a sample only while some thread holds the GIL
                "samples_per_s": samples(path) / span,
                "gil_held_share": samples(path) / span / 200 if gil else None,
                "categories": categories(path),
                "top": top_frames(path),
            }
            print(f"profile {name}: {result['records_per_s']:,.0f} rec/s", flush=True)
    return out


# -- the report -----------------------------------------------------------------------------


def ingest_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| case | records/s (median) | min–max | p50 ms | p95 ms | p99 ms | 503s "
        "| cores: server / load / other |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    cases = [(f"JSON {r['runs'][0]['batch']:,} × 25", r) for r in results.get("json", [])]
    arrow = results.get("arrow")
    if arrow:
        size = arrow["concurrency"][0]["runs"][0]["rows_per_request"]
        cases += [(f"Arrow {size:,} × 25", r) for r in arrow["concurrency"]]
    for label, r in cases:
        m = r["median"]
        low, high = m["records_per_s_range"]
        rows.append(
            f"| {label}, concurrency {r['concurrency']} | {m['records_per_s']:,.0f} "
            f"| {low:,.0f}–{high:,.0f} | {m['p50_ms']:.0f} | {m['p95_ms']:.0f} "
            f"| {m['p99_ms']:.0f} | {m['503']} | {m['server_cores']:.2f} / "
            f"{m['load_cores']:.2f} / {m['other_cores']:.2f} |"
        )
    if arrow:
        for key, label in (
            ("with_pk", "with primary key"),
            ("without_pk", "without primary key"),
            ("with_pk_checkpoint_1gb", "with primary key, checkpoint_threshold 1GB"),
        ):
            rate = arrow["floor"][key]["records_per_s"]
            rows.append(f"| floor: DuckDB INSERT, {label} | {rate:,.0f} | | | | | | |")
    return rows


def table(results: dict[str, Any]) -> str:
    """The results as markdown tables."""
    parts = ["\n".join(ingest_rows(results))]
    stages = results.get("stages")
    if stages:
        rows = ["| step (one thread, no HTTP) | JSON, ms per 1,000 | Arrow, ms per 100,000 |"]
        rows.append("| --- | ---: | ---: |")
        names = ["decode", "validate", "write_predictions", "register Arrow", "SQL INSERT"]
        names += ["window upserts", "COMMIT"]
        for name in names:
            j = stages["json"]["mean_ms"].get(name, 0.0) * stages["json"]["per_batch"].get(name, 1)
            a = stages["arrow"]["mean_ms"].get(name, 0.0)
            a *= stages["arrow"]["per_batch"].get(name, 1)
            indent = "  ↳ " if name not in ("decode", "validate", "write_predictions") else ""
            rows.append(f"| {indent}{name} | {j:.1f} | {a:.0f} |")
        parts.append("\n".join(rows))
    sdk = results.get("sdk")
    if sdk and "skipped" not in sdk:
        rows = [
            "| SDK `log_predictions`, per call | median µs | p99 µs | p99.9 µs | max µs "
            "| accepted | dropped | stored/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, label in (("server", "server running"), ("no_server", "nothing listening")):
            r = sdk[key]
            dropped = sum(v for k, v in r["stats"].items() if k.startswith("dropped"))
            rows.append(
                f"| {label}, {r['calls']:,} calls | {r['median_us']:.1f} | {r['p99_us']:.1f} "
                f"| {r['p999_us']:.0f} | {r['max_us']:,.0f} | {r['stats']['accepted']:,} "
                f"| {dropped:,} | {r.get('stored_per_s', 0):,.0f} |"
            )
        parts.append("\n".join(rows))
    elif sdk:
        parts.append(f"SDK: skipped ({sdk['skipped']}).")
    window = results.get("window")
    if window:
        calls = window["service"]["calls"]
        mem = window["in_memory"]
        computed = " + ".join(f"{kind} {rows:,} rows" for kind, rows, _ in calls[0]["windows"])
        runs = ", ".join(f"{c['seconds']:.2f}" for c in calls)
        median = statistics.median(c["seconds"] for c in calls)
        rows = ["| 1M-row window | median s | runs s | computes |", "| --- | ---: | --- | --- |"]
        rows.append(f"| POST /v1/models/bench/evaluate | {median:.2f} | {runs} | {computed} |")
        rows.append(
            f"| `vigil.evaluate` in memory | {statistics.median(mem['seconds']):.2f} "
            f"| {', '.join(f'{x:.2f}' for x in mem['seconds'])} | 1 × {mem['rows']:,} rows |"
        )
        rows.append(
            f"| evaluate call per window ÷ in memory | {window['ratio_per_window']:.2f} | | |"
        )
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def git_state() -> dict[str, Any]:
    """The commit measured and whether the working tree had changes (others' edits count)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed": changed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="JSON measurement, per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="JSON warm-up, per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per ingest case (median)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--arrow-rows", type=int, default=100_000, help="rows per Arrow body")
    parser.add_argument("--arrow-requests", type=int, default=24, help="Arrow bodies per run")
    parser.add_argument("--arrow-warmup", type=int, default=4, help="Arrow bodies not timed")
    parser.add_argument("--arrow-concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="evaluate calls and in-memory runs")
    parser.add_argument("--sdk-calls", type=int, default=100_000)
    parser.add_argument("--sdk-batch", type=int, default=1000, help="the client's batch_size")
    parser.add_argument("--sdk-frame-rows", type=int, default=20_000, help="rows per logged table")
    parser.add_argument("--sdk-frame-calls", type=int, default=1_000_000, help="records as tables")
    parser.add_argument("--window-reference-rows", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--window-size", type=int, default=500, help="rows per window (cost)")
    parser.add_argument("--window-count", type=int, default=6, help="windows timed per size")
    parser.add_argument(
        "--label-rolling",
        action="store_true",
        help="labels: the plan has the default 7-day rolling window too (computed whole)",
    )
    parser.add_argument("--label-windows", type=int, default=48)
    parser.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    parser.add_argument("--profile", metavar="DIR", help="also py-spy runs, stacks to DIR")
    parser.add_argument(
        "--profile-cases", nargs="+", default=["json_c4", "arrow_c2"], help="with --profile"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="servers store in a fresh schema of this PostgreSQL database, not a DuckDB file",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        help="seconds to wait at most for a quiet machine before each measurement",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "service_results.json")
    args = parser.parse_args()
    if args.postgres:
        POSTGRES.append(args.postgres)
    QUIET_WAIT.append(args.quiet_wait)
    if args.profile and shutil.which("py-spy", path=str(VENV_BIN)) is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")

    now = time.time()
    sink = io.BytesIO()
    pq.write_table(reference_table(args.reference_rows), sink)
    reference = sink.getvalue()
    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/service.py", *sys.argv[1:]]),
        "machine": machine(),
        "git": git_state(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }
    for name, step in STEPS.items():
        if args.only is None or name in args.only:
            results[name] = step(args, reference, now)
    if args.profile:
        results["profile"] = measure_profiles(args, reference, now)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))


STEPS = {
    "json": measure_json,
    "arrow": measure_arrow,
    "stages": measure_stages,
    "sdk": measure_sdk,
    "window": measure_window,
    "window_cost": measure_window_cost,
    "labels": measure_labels,
}


if __name__ == "__main__":
    main()
