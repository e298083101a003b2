"""Stream detectors in a real `vigil serve`: killed with SIGKILL mid-stream and restarted,
their detections and cursors equal one uninterrupted detector's; and they reach /metrics."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import ServeProcess, credit_config, records, reference_table

from vigil.detect import DetectorConfig, check_params, make_detector
from vigil.store import open_store

CLI = [sys.executable, "-c", "from vigil.cli import main; raise SystemExit(main())"]
STREAMS = [
    {"stream": "age", "detector": "adwin"},
    {"stream": "age", "detector": "cusum", "params": {"h": 8.0}},
]
BATCHES = 30
ROWS = 200


def batch(k: int, base: float) -> list[dict[str, Any]]:
    """Batch k: ten minutes apart, the age shifted by 15 years from batch 18 on."""
    return records(
        ROWS,
        start=1000,
        prefix=f"b{k:03d}-",
        seed=k,
        shift=15.0 if k >= 18 else 0.0,
        ts=base + 600 * k,
    )


def post(server: ServeProcess, batches: list[list[dict[str, Any]]]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for recs in batches:
            assert (
                c.post("/v1/models/credit/predictions", json={"records": recs}).status_code == 200
            )


def expected(
    name: str, params: dict[str, object], sent: list[dict[str, Any]]
) -> dict[datetime, float]:
    age = reference_table().column("age").to_numpy()
    detector = make_detector(
        DetectorConfig(name, check_params(name, params, where="test"), "numeric"),
        mean=float(age.mean()),
        sigma=float(age.std(ddof=1)),
    )
    out = {}
    for r in sent:
        if detector.update(r["features"]["age"]):
            when = datetime.utcfromtimestamp(r["timestamp"]).replace(
                minute=0, second=0, microsecond=0
            )
            out[when] = float(detector.position)
    return out


def test_detections_after_a_kill_9_and_restart_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    config = credit_config(
        tmp_path,
        interval="1s",
        models={
            "credit": {
                "version": "1",
                "spec": "spec.yaml",
                "reference": "ref.parquet",
                "streams": STREAMS,
            }
        },
    )
    base = time.time() - 6 * 3600
    sent = [batch(k, base) for k in range(BATCHES)]
    server = ServeProcess(["--config", str(config)])
    server.wait_ready()
    post(server, sent[:20])
    time.sleep(1.5)  # a tick or so: the detectors are part way, maybe inside a chunk
    server.kill9()

    server = ServeProcess(["--config", str(config)])
    server.wait_ready()
    post(server, sent[20:])
    with httpx.Client(base_url=server.url, timeout=30) as c:
        deadline = time.monotonic() + 60
        seen: dict[str, float] = {}
        while time.monotonic() < deadline and "cusum" not in seen:
            time.sleep(0.5)
            for family in text_string_to_metric_families(c.get("/metrics").text):
                for s in family.samples:
                    if s.name == "vigil_detection" and s.labels["stream"] == "age":
                        seen[s.labels["detector"]] = s.value
    log = server.stop()
    # /metrics shows the latest window: CUSUM fires again and again on the shifted age there
    # (it starts afresh after each alarm), ADWIN once, hours earlier
    assert seen["cusum"] > 18 * ROWS, log
    # whatever the last tick left unread, one `vigil run --once` tick reads
    subprocess.run(
        [*CLI, "run", "--once", "--config", str(config)], check=True, capture_output=True
    )

    flat = [r for b in sent for r in b]
    store = open_store(str(tmp_path / "vigil.duckdb"))
    try:
        model = store.get_model("credit")
        assert model is not None
        for name, params in (("adwin", {}), ("cusum", {"h": 8.0})):
            assert store.stream_cursor(model, "age", name).position == BATCHES * ROWS
            points = store.read_points(
                model,
                metric=f"detect.{name}",
                column="age",
                segment="",
                version=None,
                kind="tumbling",
                since=None,
                until=None,
                limit=1000,
            )
            want = expected(name, params, flat)
            assert want, f"{name} found the shift"
            assert {p.start: p.value for p in points} == want
    finally:
        store.close()
