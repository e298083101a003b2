"""`vigil serve --workers N`: real worker processes on one port and one PostgreSQL schema.

Each record is stored once and each window computed once whichever worker answers; a worker
killed with SIGKILL is started again and nothing it acknowledged is lost; SIGTERM to the
parent stops every worker and exits 0; workers whose parent is killed stop by themselves;
DuckDB and bad counts are refused with exit 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import credit_config, free_port, records
from tests.store.conftest import postgres_schema

from vigil.cli import main
from vigil.config import MAX_WORKERS, load_settings
from vigil.errors import ConfigError

CLI = [sys.executable, "-c", "from vigil.cli import main; raise SystemExit(main())"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, waiting for init to reap it


class Workers:
    """A real `vigil serve --workers N` whose output goes to a file read while it runs."""

    def __init__(self, config: Path, n: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = config.parent / f"serve-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--config", str(config), "--port", str(self.port), "--workers", str(n)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[int, int]:
        """Each worker's latest pid, from the parent's `worker k started (pid p)` lines."""
        out = {}
        for line in self.log().splitlines():
            if " started (pid " in line and line.startswith("worker "):
                index = int(line.split()[1])
                out[index] = int(line.rsplit("pid ", 1)[1].rstrip(")"))
        return out

    def wait_ready(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if len(self.pids()) == n and httpx.get(self.url + "/healthz", timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"vigil serve --workers {n} did not answer in time: {self.log()}")

    def stop(self) -> int:
        """SIGTERM to the parent; its exit code, once none of its children is left."""
        if self.proc.poll() is not None:
            self._log.close()
            return self.proc.returncode
        children = children_of(self.proc.pid)  # the workers and multiprocessing's tracker
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(120)
        finally:
            if self.proc.poll() is None:
                for pid in [*children, self.proc.pid]:
                    os.kill(pid, signal.SIGKILL)
            self._log.close()
        deadline = time.monotonic() + 20
        while not all(map(is_gone, children)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(map(is_gone, children)), f"orphans left: {children}"
        return code


def stored_ids(url: str, model: str = "credit") -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM models WHERE name = %s", (model,)).fetchone()
        assert row is not None
        return [r[0] for r in conn.execute(f"SELECT id FROM p_{int(row[0])}").fetchall()]


def test_two_workers_store_each_id_once_and_compute_each_window_once(
    pg_url: str, tmp_path: Path
) -> None:
    config = credit_config(
        tmp_path,
        db=pg_url,
        windows={"size": "1h", "min_rows": 1},
        alerts={"evaluate_after": "off"},  # windows computed only when asked, below
    )
    server = Workers(config, 2)
    try:
        server.wait_ready(2)
        hour = time.time() // 3600 * 3600 + 1  # one window, whenever the test runs
        answers: list[dict[str, int]] = []
        served_by: set[str] = set()
        lock = threading.Lock()

        def send(start: int) -> None:
            for _ in range(2):  # each batch twice
                for offset in range(0, 1000, 100):
                    batch = records(100, start=start + offset, prefix="id", ts=hour)
                    # a connection per request: the kernel picks a worker for each
                    r = httpx.post(
                        f"{server.url}/v1/models/credit/predictions",
                        json={"records": batch},
                        timeout=60,
                    )
                    assert r.status_code == 200, r.text
                    with lock:
                        answers.append(r.json())
                        served_by.add(r.headers["x-vigil-worker"])

        # ids 0..999, 500..1499, 1000..1999: each id sent by one, two or four requests
        threads = [threading.Thread(target=send, args=(s,)) for s in (0, 500, 1000)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert sum(x["accepted"] for x in answers) == 2000, "each distinct id accepted once"
        assert sum(x["duplicates"] for x in answers) == 6000 - 2000
        assert sum(x["conflicts"] for x in answers) == 0
        assert served_by == {"1", "2"}, "both workers answered"
        ids = stored_ids(pg_url)
        assert len(ids) == len(set(ids)) == 2000

        # /metrics sums the workers' counters, whichever worker answers the scrape
        scraped_by = set()
        for _ in range(8):
            r = httpx.get(f"{server.url}/metrics", timeout=30)  # a connection each
            assert r.status_code == 200, r.text
            scraped_by.add(r.headers["x-vigil-worker"])
            counts = {
                s.labels["outcome"]: s.value
                for family in text_string_to_metric_families(r.text)
                for s in family.samples
                if s.name == "vigil_records_total" and s.labels.get("model") == "credit"
            }
            assert counts == {"accepted": 2000, "duplicate": 4000}, counts
            answered = sum(
                s.value
                for family in text_string_to_metric_families(r.text)
                for s in family.samples
                if s.name == "vigil_request_duration_seconds_count"
                and s.labels.get("route") == "/v1/models/{model}/predictions"
            )
            assert answered == 60  # 3 senders x 2 rounds x 10 requests, over both workers
        assert scraped_by == {"1", "2"}, "both workers answered a scrape"

        computed: list[dict[str, object]] = []

        def evaluate() -> None:
            r = httpx.post(f"{server.url}/v1/models/credit/evaluate", timeout=120)
            assert r.status_code == 200, r.text
            with lock:
                computed.extend(r.json()["computed"])
                served_by.add(r.headers["x-vigil-worker"])

        threads = [threading.Thread(target=evaluate) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        tumbling = [w for w in computed if w["kind"] == "tumbling"]
        assert len(tumbling) == 1, computed
        assert tumbling[0]["rows"] == 2000
        latest = httpx.get(f"{server.url}/v1/models/credit/windows/latest", timeout=30).json()
        assert latest["current"]["rows"] == 2000
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert "stopping 2 worker(s)" in server.log()


def test_a_killed_worker_is_started_again_and_nothing_acknowledged_is_lost(
    pg_url: str, tmp_path: Path
) -> None:
    config = credit_config(tmp_path, db=pg_url)
    server = Workers(config, 2)
    try:
        server.wait_ready(2)
        acknowledged: list[str] = []
        after_restart: set[str] = set()
        restarted = threading.Event()
        stop = threading.Event()
        lock = threading.Lock()

        def send(sender: int) -> None:
            batch = 0
            while not stop.is_set():
                recs = records(200, prefix=f"s{sender}-b{batch}-")
                batch += 1
                try:
                    r = httpx.post(
                        f"{server.url}/v1/models/credit/predictions",
                        json={"records": recs},
                        timeout=30,
                    )
                except httpx.HTTPError:
                    continue  # the killed worker's connection: not acknowledged
                if r.status_code == 200:
                    with lock:
                        acknowledged.extend(x["id"] for x in recs)
                        if restarted.is_set():
                            after_restart.add(r.headers["x-vigil-worker"])

        senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for s in senders:
            s.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = server.pids()[1]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while server.pids()[1] == victim and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.pids()[1] != victim, server.log()
        restarted.set()
        deadline = time.monotonic() + 120
        while after_restart != {"1", "2"} and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for s in senders:
            s.join(60)
        assert after_restart == {"1", "2"}, "the new worker 1 serves beside worker 2"
        assert f"worker 1 (pid {victim}) exited with signal SIGKILL" in server.log()
        missing = set(acknowledged) - set(stored_ids(pg_url))
        assert not missing, f"{len(missing)} acknowledged records lost"
    finally:
        code = server.stop()
    assert code == 0, server.log()


def test_several_workers_on_duckdb_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    result = subprocess.run(
        [*CLI, "serve", "--db", str(db), "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "2 workers need a PostgreSQL store" in result.stderr
    assert "docs/scaling.md" in result.stderr
    assert not db.exists(), "refused before the store is opened"


@pytest.mark.parametrize("count", ["0", "-1", str(MAX_WORKERS + 1), "100000"])
def test_a_bad_number_of_workers_is_a_usage_error(
    count: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--db", str(tmp_path / "x.duckdb"), "--workers", count])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--workers: {count}" in err and f"from 1 to {MAX_WORKERS}" in err


def test_a_workers_option_that_is_not_a_number_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--workers", "two"])
    assert exit.value.code == 2
    assert "--workers: invalid int value: 'two'" in capsys.readouterr().err


def test_workers_in_the_config_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text("workers: 4\n")
    assert load_settings(path, {}).workers == 4
    assert load_settings(path, {"VIGIL_WORKERS": "3"}).workers == 3
    assert load_settings(None, {}).workers == 1
    for bad in ("0", "2.5", "true", "[2]", "many"):
        path.write_text(f"workers: {bad}\n")
        with pytest.raises(ConfigError, match=r"workers: .* is not a number of processes"):
            load_settings(path, {})


def test_workers_stop_by_themselves_when_the_parent_is_killed(pg_url: str, tmp_path: Path) -> None:
    server = Workers(credit_config(tmp_path, db=pg_url), 2)
    try:
        server.wait_ready(2)
        workers = list(server.pids().values())
        assert set(workers) <= set(children_of(server.proc.pid))
        accepted = httpx.post(
            f"{server.url}/v1/models/credit/predictions", json={"records": records(50)}, timeout=30
        )
        assert accepted.status_code == 200
        server.proc.kill()  # SIGKILL: no chance to stop its workers
        server.proc.wait(30)
        deadline = time.monotonic() + 90
        while not all(map(is_gone, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(map(is_gone, workers)), "workers outlived their parent"
        assert len(set(stored_ids(pg_url))) == 50
    finally:
        for pid in server.pids().values():
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
