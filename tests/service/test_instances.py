"""Two real `vigil serve` processes on one PostgreSQL: an id is stored once, a window is
computed once, whichever instance gets the request."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from tests.service.conftest import SPEC, ServeProcess, parquet_bytes, records, reference_table

SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    schema = f"vigil_two_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(SERVER, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({err}); start it with "
            f"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )
    yield f"{SERVER}?options=-csearch_path%3D{schema}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_two_instances_store_each_id_once_and_compute_each_window_once(pg_url: str) -> None:
    a = ServeProcess(["--db", pg_url], env={"VIGIL_INTERVAL": "1h", "VIGIL_WINDOWS_MIN_ROWS": "1"})
    b = ServeProcess(["--db", pg_url], env={"VIGIL_INTERVAL": "1h", "VIGIL_WINDOWS_MIN_ROWS": "1"})
    try:
        a.wait_ready()
        b.wait_ready()
        with (
            httpx.Client(base_url=a.url, timeout=60) as ca,
            httpx.Client(base_url=b.url, timeout=60) as cb,
        ):
            assert (
                ca.post(
                    "/v1/models", json={"name": "credit", "version": "1", "spec": SPEC}
                ).status_code
                == 201
            )
            put = cb.put(
                "/v1/models/credit/reference",
                content=parquet_bytes(reference_table()),
                headers={"content-type": "application/vnd.apache.parquet"},
            )
            assert put.status_code == 200, put.text

            hour = time.time() // 3600 * 3600 + 1  # one window, whenever the test runs
            answers: list[dict[str, int]] = []
            lock = threading.Lock()

            def send(client: httpx.Client, start: int) -> None:
                for _ in range(2):  # and each batch twice
                    for offset in range(0, 1000, 250):
                        batch = records(250, start=start + offset, prefix="id", ts=hour)
                        r = client.post("/v1/models/credit/predictions", json={"records": batch})
                        assert r.status_code == 200, r.text
                        with lock:
                            answers.append(r.json())

            threads = [
                threading.Thread(target=send, args=(ca, 0)),
                threading.Thread(target=send, args=(cb, 500)),  # ids 500..999 go to both
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            accepted = sum(x["accepted"] for x in answers)
            repeated = sum(x["duplicates"] + x["conflicts"] for x in answers)
            assert accepted == 1500, "each of the 1500 distinct ids is accepted exactly once"
            assert repeated == 4000 - 1500
            assert sum(x["conflicts"] for x in answers) == 0  # same content: duplicates

            computed: list[dict[str, object]] = []

            def evaluate(client: httpx.Client) -> None:
                r = client.post("/v1/models/credit/evaluate")
                assert r.status_code == 200, r.text
                with lock:
                    computed.extend(r.json()["computed"])

            threads = [threading.Thread(target=evaluate, args=(c,)) for c in (ca, cb, ca, cb)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            tumbling = [w for w in computed if w["kind"] == "tumbling"]
            assert len(tumbling) == 1, computed
            assert tumbling[0]["rows"] == 1500
            report = cb.get("/v1/models/credit/windows/latest").json()
            assert report["current"]["rows"] == 1500
    finally:
        a.stop()
        b.stop()
