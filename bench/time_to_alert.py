"""Time to alert: how soon vigil tells someone, in simulated time and in wall-clock time.

`month`: a month of hourly traffic replayed with back-dated timestamps through the store, the
monitor and the alert engine exactly as `vigil serve` wires them, on a simulated clock. The
model's inputs shift and its skill drops on day 7; labels arrive 24–48 h after their
predictions, in a batch every `--label-every` hours. It reports every alert that opened: none
may open on the unshifted days, a drift alert must open for the first hourly window after the
change, and a performance alert once the late labels confirm the drop.

`wall`: a real `vigil serve` with default settings (but a scheduler interval of an hour, so
only the debounced evaluation after new rows can be what is measured) and a webhook receiver
on 127.0.0.1; for each trial a fresh model gets a batch of shifted records, and the time from
the batch's acknowledgement to the receiver holding the notice is measured.

    .venv/bin/python bench/time_to_alert.py month --days 30
    .venv/bin/python bench/time_to_alert.py wall --trials 15
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from vigil.alerts.settings import parse_alert_settings
from vigil.config import Settings
from vigil.demo.receiver import Receiver
from vigil.deployment import build_alerting, build_monitor
from vigil.ingest.layout import layout_for
from vigil.monitor.windows import WindowPlan
from vigil.spec import spec_from_dict
from vigil.store import open_store

SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "z": {"role": "feature", "kind": "numeric"},
        "channel": {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
    },
}
START = datetime(2026, 10, 1)
HOUR = timedelta(hours=1)
# the tiered drift policy of docs/alerts.md, beside the default rules
RULES = [{"name": "psi-tiers", "metric": "drift.psi", "above": {"warning": 0.1, "critical": 0.25}}]


def traffic(n: int, rng: np.random.Generator, *, changed: bool) -> dict[str, np.ndarray]:
    """Scored rows: ROC AUC about 0.75 before the change; after it, the inputs move (x by
    0.6 σ) and the model sees its driver through twice the noise (ROC AUC about 0.65)."""
    x = rng.normal(0.6 if changed else 0.0, 1, n)
    y = rng.random(n) < 1 / (1 + np.exp(-3 * (x - 0.3)))
    signal = x + rng.normal(0, 2.5 if changed else 1.25, n)
    proba = 1 / (1 + np.exp(-2 * (signal - 0.3)))
    return {
        "x": x,
        "z": rng.normal(0, 1, n),
        "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]),
        "y": y,
        "proba": proba,
    }


def reference_parquet(n: int, rng: np.random.Generator) -> bytes:
    """`n` unchanged rows with their labels, as the Parquet a reference is stored as."""
    ref = traffic(n, rng, changed=False)
    table = pa.table(
        {
            "x": ref["x"],
            "z": ref["z"],
            "channel": ref["channel"],
            "pred": np.where(ref["proba"] >= 0.5, "1", "0"),
            "proba": ref["proba"],
            "y": np.where(ref["y"], "1", "0"),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@dataclass
class Opened:
    rule: str
    column: str
    severity: str
    window_start: datetime
    at: datetime  # simulated time it opened


@dataclass
class MonthResult:
    days: int
    change_at: datetime
    windows: int
    opened: list[Opened] = field(default_factory=list)
    seconds: float = 0.0

    def before_change(self) -> list[Opened]:
        return [o for o in self.opened if o.window_start < self.change_at]

    def first(self, prefix: str) -> Opened | None:
        after = [o for o in self.opened if o.rule.startswith(prefix) or prefix in o.rule]
        after = [o for o in after if o.window_start >= self.change_at]
        return min(after, key=lambda o: o.at) if after else None


def replay_month(
    folder: Path,
    *,
    days: int = 30,
    change_day: int = 7,
    rows: tuple[int, int] = (450, 550),
    label_every: int = 6,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> MonthResult:
    """Replay `days` of hourly traffic on a simulated clock; see the module's docstring."""
    began = time.perf_counter()
    store = open_store(folder / "month.duckdb")
    spec = spec_from_dict(SPEC)
    model = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "VARCHAR")
    rng = np.random.default_rng(seed)
    store.put_reference(model, "1", reference_parquet(20_000, rng), 20_000)

    clock = [START]
    settings = Settings(
        db=str(folder / "month.duckdb"),
        windows=WindowPlan(rolling_seconds=None, min_rows=10),
        alerts=parse_alert_settings({"rules": RULES}),
    )
    monitor = build_monitor(settings, store)
    monitor.clock = lambda: clock[0]
    alerting = build_alerting(settings, store, monitor)
    alerting.engine.clock = lambda: clock[0]

    change_at = START + timedelta(days=change_day)
    pending: list[tuple[datetime, pa.Table]] = []  # (arrives, labels)
    hours = days * 24
    for hour in range(hours):
        start = START + hour * HOUR
        n = int(rng.integers(*rows))
        data = traffic(n, rng, changed=start >= change_at)
        offsets = np.sort(rng.integers(0, 3600, n))
        times = pa.array([start + timedelta(seconds=int(s)) for s in offsets], pa.timestamp("us"))
        ids = [f"h{hour}-{i}" for i in range(n)]
        batch = pa.table(
            {
                "id": ids,
                "timestamp": times,
                "model_version": ["1"] * n,
                "latency_ms": rng.exponential(10, n),
                "error": pa.nulls(n, pa.string()),
                "x": data["x"],
                "z": data["z"],
                "channel": data["channel"],
                "pred": np.where(data["proba"] >= 0.5, "1", "0"),
                "proba": data["proba"],
            }
        )
        store.write_predictions(model, [batch], [], window_seconds=3600)
        delays = rng.uniform(24, 48, n)
        for arrive_hour in np.unique(np.ceil((hour + 1 + delays) / label_every) * label_every):
            keep = np.ceil((hour + 1 + delays) / label_every) * label_every == arrive_hour
            labels = pa.table(
                {
                    "id": pa.array(np.array(ids)[keep]),
                    "label": pa.array(np.where(data["y"][keep], "1", "0")),
                    "timestamp": times.filter(pa.array(keep)),
                }
            )
            pending.append((START + int(arrive_hour) * HOUR, labels))
        clock[0] = start + HOUR  # the hour has ended: its window is closed and due
        due = [t for at, t in pending if at <= clock[0]]
        pending = [(at, t) for at, t in pending if at > clock[0]]
        if due:
            store.write_labels(model, due, [], window_seconds=3600)
        summary = monitor.tick()
        if summary.failed:
            raise RuntimeError(f"windows failed: {summary.failed}")
        if progress is not None and hour % 24 == 23:
            progress(f"day {hour // 24 + 1}: {len(summary.computed)} window(s) this hour")

    result = MonthResult(days, change_at, hours, seconds=time.perf_counter() - began)
    for alert in store.read_alerts(
        model=model, status=None, severity=None, rule=None, since=None, limit=100_000
    ):
        for event in store.alert_events(alert.id):
            if event.kind == "opened":
                result.opened.append(
                    Opened(
                        alert.rule,
                        alert.column,
                        event.severity,
                        event.window_start or alert.window_start,
                        event.at,
                    )
                )
    result.opened.sort(key=lambda o: o.at)
    store.close()
    return result


def month(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        result = replay_month(
            Path(tmp), days=args.days, label_every=args.label_every, progress=print
        )
    drift = result.first("drift")
    psi = result.first("psi")
    perf = result.first("performance")
    print(
        f"\n{result.windows} hourly windows in {result.seconds:.0f} s; change at {result.change_at}"
    )
    print(f"alerts opened before the change: {len(result.before_change())}")
    for o in result.before_change():
        print(f"  {o.rule} {o.column} {o.severity} window {o.window_start} at {o.at}")
    for name, o in (("drift (default rules)", drift), ("psi-tiers", psi), ("performance", perf)):
        if o is None:
            print(f"{name}: no alert")
        else:
            print(
                f"{name}: {o.rule} {o.column or ''} {o.severity}, window {o.window_start} "
                f"({(o.window_start - result.change_at) / HOUR:+.0f} h from the change), opened "
                f"at {o.at} ({(o.at - result.change_at) / HOUR:+.0f} h)"
            )
    return {
        "days": result.days,
        "seconds": result.seconds,
        "before_change": len(result.before_change()),
        "opened": [
            {**o.__dict__, "window_start": str(o.window_start), "at": str(o.at)}
            for o in result.opened
        ],
    }


# -- wall clock -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wall(args: argparse.Namespace) -> dict[str, Any]:
    # the demo's receiver, noting when each model's first notice came
    first: dict[str, float] = {}
    receiver = Receiver(on_delivery=lambda d: first.setdefault(d.body["model"], time.monotonic()))
    rng = np.random.default_rng(3)
    reference = reference_parquet(5000, rng)
    delays: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "vigil.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "db": str(Path(tmp) / "vigil.duckdb"),
                    "interval": "1h",
                    "alerts": {
                        "rules": RULES,
                        "allow": ["127.0.0.1"],
                        "notify": [
                            {
                                "name": "hook",
                                "webhook": {"url": receiver.url("/hook")},
                            }
                        ],
                    },
                }
            )
        )
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vigil.cli import main; raise SystemExit(main())",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("vigil serve did not start")
                    time.sleep(0.1)
                for trial in range(args.trials):
                    name = f"m{trial}"
                    spec = {**SPEC}
                    assert (
                        client.post(
                            "/v1/models", json={"name": name, "version": "1", "spec": spec}
                        ).status_code
                        == 201
                    )
                    assert (
                        client.put(
                            f"/v1/models/{name}/reference",
                            content=reference,
                            headers={"content-type": "application/vnd.apache.parquet"},
                        ).status_code
                        == 200
                    )
                    data = traffic(args.rows, rng, changed=True)
                    now = time.time()
                    records = [
                        {
                            "id": f"{name}-{i}",
                            "timestamp": now,
                            "features": {
                                "x": float(data["x"][i]),
                                "z": float(data["z"][i]),
                                "channel": str(data["channel"][i]),
                            },
                            "prediction": "1" if data["proba"][i] >= 0.5 else "0",
                            "score": float(data["proba"][i]),
                        }
                        for i in range(args.rows)
                    ]
                    answer = client.post(
                        f"/v1/models/{name}/predictions", json={"records": records}
                    )
                    acked = time.monotonic()
                    assert answer.status_code == 200, answer.text
                    wait_until = acked + 120
                    while name not in first and time.monotonic() < wait_until:
                        time.sleep(0.02)
                    if name not in first:
                        raise RuntimeError(f"no notice for {name} within 120 s")
                    delays.append(first[name] - acked)
                    print(f"trial {trial}: {delays[-1]:.2f} s", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    ordered = sorted(delays)
    summary = {
        "trials": len(delays),
        "median_s": statistics.median(delays),
        "p90_s": ordered[int(0.9 * (len(ordered) - 1))],
        "max_s": max(delays),
        "min_s": min(delays),
    }
    print(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("month", help="a replayed month on a simulated clock")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--label-every", type=int, default=6)
    p = sub.add_parser("wall", help="a real vigil serve and a webhook receiver")
    p.add_argument("--trials", type=int, default=15)
    p.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    result = month(args) if args.what == "month" else wall(args)
    out = Path(__file__).with_name("time_to_alert_results.json")
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous[args.what] = {
        **result,
        "machine": (
            f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "when": datetime.now().isoformat(timespec="seconds"),
    }
    out.write_text(json.dumps(previous, indent=2, default=str))


if __name__ == "__main__":
    main()
