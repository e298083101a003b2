"""`vigil demo` as a user runs it: a real process that starts a real `vigil serve`, replays a
short story through the SDK, and says what vigil noticed and when (in story time)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from vigil.demo.folder import MARKER

VIGIL = [sys.executable, "-m", "vigil.cli"]
HOUR = timedelta(hours=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*VIGIL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600, check=False
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


@pytest.fixture(scope="module")
def short(tmp_path_factory) -> dict:
    """Ten days, the change on the 3rd: two quiet days, then the story's change."""
    folder = tmp_path_factory.mktemp("demo") / "out"
    port = free_port()
    done = run(
        "demo", "--no-serve", "--data", str(folder), "--days", "10", "--change-day", "3",
        "--port", str(port),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads((folder / "outcome.json").read_text())
    return {"folder": folder, "port": port, "done": done, "outcome": outcome}


def test_no_alert_opens_before_the_change(short) -> None:
    change = _time(short["outcome"]["change_at"])
    assert short["outcome"]["alerts"], "nothing was found at all"
    early = [a for a in short["outcome"]["alerts"] if _time(a["window_start"]) < change]
    assert early == []


def test_drift_and_prediction_drift_are_seen_within_an_hour_of_the_change(short) -> None:
    outcome = short["outcome"]
    change = _time(outcome["change_at"])
    for rule in ("default.dataset-drift", "default.score-drift"):
        hours = outcome["time_to_detect_hours"][rule]
        assert hours is not None and 0 < hours <= 1, (rule, hours)
        first = min((a for a in outcome["alerts"] if a["rule"] == rule), key=lambda a: a["seen_at"])
        assert _time(first["window_start"]) == change  # the first window after the change
        assert first["severity"] == "critical"


def test_the_performance_alert_comes_once_the_late_labels_confirm_the_drop(short) -> None:
    outcome = short["outcome"]
    change = _time(outcome["change_at"])
    perf = [a for a in outcome["alerts"] if a["rule"] == "default.performance"]
    assert perf, "no performance alert"
    first = min(perf, key=lambda a: a["seen_at"])
    assert _time(first["window_start"]) >= change
    # labels arrive two days late: the drop cannot be confirmed before they do
    assert outcome["label_delay_hours"] == 48
    assert _time(first["seen_at"]) >= _time(first["window_end"]) + 48 * HOUR
    assert outcome["time_to_detect_hours"]["default.performance"] >= 49


def test_the_estimated_performance_sees_the_drop_before_the_labels_arrive(short) -> None:
    outcome = short["outcome"]
    change = _time(outcome["change_at"])
    hours = outcome["time_to_detect_hours"]
    estimated, realized = hours["estimated-performance"], hours["default.performance"]
    assert estimated is not None and realized is not None
    # two hourly windows in a row beyond the noise, long before the labels come two days late
    assert 0 < estimated <= 6 < 48 < realized, (estimated, realized)
    first = min(
        (a for a in outcome["alerts"] if a["rule"] == "estimated-performance"),
        key=lambda a: a["seen_at"],
    )
    assert _time(first["window_start"]) >= change
    assert first["column"] == "" and "estimated.roc_auc" in first["message"]
    assert "performance, estimated before labels" in short["done"].stdout


def test_a_retrain_is_recorded_and_the_receiver_hears_of_it_and_of_the_alerts(short) -> None:
    outcome = short["outcome"]
    taken = [a for a in outcome["actions"] if a["kind"] == "retrain" and a["taken"]]
    assert [a["trigger"] for a in taken] == ["drift"]
    assert taken[0]["outcome"] == "sent"
    received = outcome["received"]
    assert [r["id"] for r in received["retrains"]] == [taken[0]["id"]]
    told = {(a["rule"], a["column"]) for n in received["notices"] for a in n["alerts"]}
    opened = {(a["rule"], a["column"]) for a in outcome["alerts"]}
    assert opened <= told
    assert "receiver ← notice" in short["done"].stdout


def test_the_terminal_says_when_vigil_noticed_and_where_the_dashboard_is(short) -> None:
    out = short["done"].stdout
    assert "Time to detect" in out
    assert "Alerts on the 2 days before the change: 0." in out
    assert f"http://127.0.0.1:{short['port']}/models/credit" in out
    assert "Traceback" not in out + short["done"].stderr


def test_the_data_is_written_for_the_other_commands(short) -> None:
    folder = short["folder"]
    for name in ("reference.parquet", "current.parquet", "labels.parquet", "spec.yaml"):
        assert (folder / name).stat().st_size > 0, name
    change = _time(short["outcome"]["change_at"])
    current = pq.read_table(folder / "current.parquet")
    first = pc.min(current["timestamp"]).as_py().replace(tzinfo=None)
    assert first >= change
    labels = pq.read_table(folder / "labels.parquet")
    # every label arrived at least two days after its prediction (the end of its hour + 47 h)
    arrived = labels["arrived"].cast(pa.int64()).to_numpy()
    predicted = labels["timestamp"].cast(pa.int64()).to_numpy()
    assert labels.num_rows > 0
    assert (arrived - predicted).min() >= 47 * 3600 * 10**6
    assert labels.num_rows == short["outcome"]["labels"]


def test_the_report_is_the_shifted_period_against_the_reference(short) -> None:
    folder = short["folder"]
    data = json.loads((folder / "report.json").read_text())
    drifted = {n for n, c in data["drift"]["columns"].items() if c["drifted"]}
    assert {"income", "debt_ratio", "purpose", "region", "default_probability"} <= drifted
    assert "age" not in drifted and "housing" not in drifted
    perf = data["performance"]
    assert perf["current"]["roc_auc"] < perf["reference"]["roc_auc"] - 0.03
    assert (folder / "report.html").stat().st_size > 0


def test_the_readme_commands_run_on_the_written_files(short) -> None:
    folder = short["folder"]
    files = ["--reference", "reference.parquet", "--current", "current.parquet"]
    check = run("check", *files, "--spec", "spec.yaml", "--fail-on", "critical", cwd=folder)
    assert check.returncode == 1, check.stderr  # the drift is critical: the gate fails
    assert "income" in check.stdout


def test_the_serving_mode_prints_the_url_and_serves_until_ctrl_c(tmp_path) -> None:
    # an earlier demo's folder: its store is replaced, not reused (this one is not a store)
    (tmp_path / "demo.yaml").write_text(f"{MARKER}\nport: 1\n")
    (tmp_path / "demo.duckdb").write_bytes(b"an earlier run's store")
    port = free_port()
    env = {**os.environ, "COLUMNS": "200"}
    args = ["demo", "--data", str(tmp_path), "--days", "2", "--change-day", "2"]
    process = subprocess.Popen(
        [*VIGIL, *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Dashboard:"):
                break
        assert lines and lines[-1].strip() == f"Dashboard: http://127.0.0.1:{port}/models/credit"
        # still serving: the API answers, with what the replay stored
        alerts = httpx.get(f"http://127.0.0.1:{port}/v1/models/credit/alerts", timeout=30)
        assert alerts.status_code == 200 and alerts.json()["alerts"]
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, "".join(lines) + rest
    assert "Traceback" not in rest
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
