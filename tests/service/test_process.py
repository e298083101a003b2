"""A real `vigil serve` process: end to end, killed with SIGKILL, refused binds, cron commands."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import (
    SPEC,
    ServeProcess,
    credit_config,
    records,
)

from vigil.ingest.layout import layout_for
from vigil.ingest.validate import TimeRules, validate_predictions
from vigil.spec import spec_from_dict
from vigil.store import open_store
from vigil.store.sql import utcnow

CLI = [sys.executable, "-c", "from vigil.cli import main; raise SystemExit(main())"]


def test_serve_end_to_end_with_the_scheduler_and_a_prometheus_scrape(tmp_path: Path) -> None:
    server = ServeProcess(["--config", str(credit_config(tmp_path, interval="1s"))])
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/v1/models/credit").json()["references"] == {"1": 3000}
            sent = c.post("/v1/models/credit/predictions", json={"records": records(300, shift=20)})
            assert sent.json()["accepted"] == 300
            deadline = time.monotonic() + 30
            drift: dict[str, float] = {}
            while time.monotonic() < deadline and "age" not in drift:
                time.sleep(0.3)
                for family in text_string_to_metric_families(c.get("/metrics").text):
                    for s in family.samples:
                        if s.name == "vigil_drift" and s.labels["measure"] == "ks":
                            drift[s.labels["column"]] = s.value
            assert "age" in drift, "the scheduler computed the window on its own"
            assert drift["age"] > drift["income"]
            assert c.get("/readyz").json()["status"] == "ready"
    finally:
        log = server.stop()
    assert "no tokens configured" in log


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "vigil.duckdb"
    server = ServeProcess(["--config", str(credit_config(tmp_path))])
    server.wait_ready()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            batch = 0
            while not stop.is_set():
                recs = records(200, prefix=f"w{worker}-b{batch}-")
                try:
                    r = c.post("/v1/models/credit/predictions", json={"records": recs})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acknowledged.extend(x["id"] for x in recs)
                batch += 1

    workers = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for w in workers:
        w.join(15)
    assert len(acknowledged) >= 3000

    store = open_store(db)
    try:
        model = store.get_model("credit")
        assert model is not None
        window = store.read_window(model, "1", datetime(1970, 1, 1), datetime(9999, 1, 1))
        stored = set(window.column("__id").to_pylist())
    finally:
        store.close()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged records lost"


def test_binding_beyond_loopback_without_tokens_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--db", str(tmp_path / "x.duckdb"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without tokens" in result.stderr


def test_run_once_and_backfill(tmp_path: Path) -> None:
    config = credit_config(tmp_path, interval="1s")
    first = subprocess.run(
        [*CLI, "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert "computed 0 window(s)" in first.stdout
    store = open_store(tmp_path / "vigil.duckdb")
    try:
        model = store.get_model("credit")
        assert model is not None
        layout = layout_for(spec_from_dict(SPEC))
        rules = TimeRules(utcnow(), timedelta(days=30), timedelta(hours=1))
        checked = validate_predictions(records(120), layout, ["1"], "1", rules)
        store.write_predictions(model, [checked.table], [], window_seconds=3600)
    finally:
        store.close()
    second = subprocess.run(
        [*CLI, "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "computed 2 window(s)" in second.stdout
    again = subprocess.run(
        [*CLI, "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "computed 0 window(s)" in again.stdout
    back = subprocess.run(
        [
            *CLI,
            "backfill",
            "--config",
            str(config),
            "--model",
            "credit",
            "--from",
            "2000-01-01T00:00",
            "--to",
            "2100-01-01T00:00",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert back.returncode == 0, back.stderr
    assert "tumbling" in back.stdout and "computed 1 window(s)" in back.stdout
    unknown = subprocess.run(
        [
            *CLI,
            "backfill",
            "--config",
            str(config),
            "--model",
            "nope",
            "--from",
            "2000-01-01",
            "--to",
            "2001-01-01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "no model 'nope'" in unknown.stderr
