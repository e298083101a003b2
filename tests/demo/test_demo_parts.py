"""The demo's parts on their own: the story's data against scikit-learn, its timeline, the
receiver under hostile requests, the folder's care with files it did not write, and the
command's refusals of bad options."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest
from sklearn.metrics import roc_auc_score

from vigil.demo.data import credit_data
from vigil.demo.folder import MARKER, DemoFolder
from vigil.demo.receiver import MAX_BODY, Receiver
from vigil.demo.story import Story
from vigil.errors import VigilError

START = datetime(2026, 1, 1)
VIGIL_DEMO = [sys.executable, "-m", "vigil.cli", "demo"]
SHORT = ["--days", "2", "--change-day", "2"]


def _auc(table) -> float:
    return float(
        roc_auc_score(table["default"].to_numpy(), table["default_probability"].to_numpy())
    )


def test_the_model_is_deployed_at_about_0_75_and_falls_to_about_0_63() -> None:
    before = credit_data(60_000, seed=1)
    shifted = credit_data(60_000, seed=2, inputs=1.0)
    worst = credit_data(60_000, seed=3, inputs=1.0, skill_loss=1.0)
    assert _auc(before) == pytest.approx(0.75, abs=0.015)
    # the inputs move to where the model is unsure (a covariate shift), its skill unchanged
    assert _auc(shifted) == pytest.approx(0.69, abs=0.015)
    assert _auc(worst) == pytest.approx(0.63, abs=0.015)


def test_the_inputs_move_on_the_change_and_the_online_region_appears() -> None:
    before = credit_data(20_000, seed=1)
    after = credit_data(20_000, seed=2, inputs=1.0)
    assert "online" not in set(before["region"].to_pylist())
    assert 0.09 < np.mean(np.array(after["region"].to_pylist()) == "online") < 0.15
    assert pc.mean(after["income"]).as_py() < 0.85 * pc.mean(before["income"]).as_py()
    # age and housing are not part of the change
    assert pc.mean(after["age"]).as_py() == pytest.approx(pc.mean(before["age"]).as_py(), abs=0.5)


def test_the_timeline_changes_on_the_day_and_worsens_for_two_weeks() -> None:
    story = Story(start=START)
    assert story.change_at == datetime(2026, 1, 7)
    assert story.worst_at == datetime(2026, 1, 21)
    assert story.skill_loss(story.change_at - timedelta(hours=1)) == 0.0
    assert story.skill_loss(story.change_at) == 0.5
    assert story.skill_loss(datetime(2026, 1, 14)) == pytest.approx(0.75)
    assert story.skill_loss(datetime(2026, 1, 25)) == 1.0
    assert story.labels_due(47) is None and story.labels_due(48) == 0


def test_an_hour_is_the_same_whatever_was_asked_before_and_its_labels_are_back_dated() -> None:
    story = Story(start=START)
    hour = story.hour(200)
    other = Story(start=START)
    other.hour(5)
    again = other.hour(200)
    assert hour.rows.to_pandas().equals(again.rows.to_pandas())  # NaN where NaN
    times = hour.predictions["timestamp"]
    assert pc.min(times).as_py().replace(tzinfo=None) >= hour.start
    assert pc.max(times).as_py().replace(tzinfo=None) < hour.end
    assert hour.labels["timestamp"].equals(times)
    assert "default" not in hour.predictions.column_names
    assert len(set(hour.predictions["id"].to_pylist())) == hour.rows.num_rows


@pytest.mark.parametrize(
    ("days", "change_day", "rows"),
    [(1, 2, 400), (400, 7, 400), (10, 1, 400), (10, 11, 400), (10, 3, 50)],
)
def test_a_story_that_cannot_be_told_is_refused(days: int, change_day: int, rows: int) -> None:
    with pytest.raises(ValueError, match="at least"):
        Story(start=START, days=days, change_day=change_day, rows_per_hour=rows)


@pytest.fixture
def receiver():
    got = []
    r = Receiver(on_delivery=got.append)
    r.got = got
    yield r
    r.close()


def test_the_receiver_keeps_what_it_is_sent_by_path(receiver) -> None:
    assert httpx.post(receiver.url("/notify"), json={"summary": "x"}).status_code == 200
    assert httpx.post(receiver.url("/retrain"), json={"trigger": "drift"}).status_code == 200
    assert [d.body for d in receiver.deliveries("/notify")] == [{"summary": "x"}]
    assert [d.path for d in receiver.got] == ["/notify", "/retrain"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {}, 400),
        (b"\xff\xfe", {}, 400),
        (b"x" * (MAX_BODY + 1), {}, 413),
        (b"{}", {"content-length": "-5"}, 400),
        (b"{}", {"content-length": "many"}, 400),
    ],
)
def test_the_receiver_refuses_hostile_requests_and_keeps_nothing(
    receiver, body: bytes, headers: dict[str, str], status: int
) -> None:
    with httpx.Client() as client:
        request = client.build_request("POST", receiver.url("/notify"), content=body)
        request.headers.update(headers)
        try:
            answer = client.send(request)
        except httpx.HTTPError:  # a lying content-length may also just end the connection
            answer = None
    assert answer is None or answer.status_code == status
    assert receiver.deliveries() == []
    # and it still serves
    assert httpx.post(receiver.url("/notify"), json={"ok": 1}).status_code == 200


def test_the_folder_replaces_only_the_store_a_demo_wrote(tmp_path) -> None:
    folder = DemoFolder(tmp_path)
    folder.store.write_bytes(b"someone's data")
    with pytest.raises(VigilError, match="not written by `vigil demo`"):
        folder.prepare()
    assert folder.store.read_bytes() == b"someone's data"
    folder.config.write_text(f"{MARKER}\nport: 1\n")
    folder.prepare()
    assert not folder.store.exists()


def test_a_file_given_as_the_folder_is_refused(tmp_path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(VigilError, match="give a folder"):
        DemoFolder(path).prepare()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "1"], "--days"),
        (["--change-day", "40"], "--change-day"),
        (["--rows-per-hour", "3"], "--rows-per-hour"),
        (["--port", "70000"], "--port"),
        (["--days", "ten"], "invalid int value"),
    ],
)
def test_the_command_refuses_bad_options_in_one_line(tmp_path, args, message) -> None:
    done = subprocess.run(
        [*VIGIL_DEMO, "--no-serve", "--data", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "demo.yaml").exists()  # nothing started


def test_a_port_in_use_is_refused_before_anything_is_sent(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [*VIGIL_DEMO, "--no-serve", "--data", str(tmp_path), *SHORT, "--port", port],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "demo.duckdb").exists()
