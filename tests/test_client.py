"""The SDK against a real HTTP server on 127.0.0.1 whose answers each test scripts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil import Client
from vigil.client import ClientStats


@dataclass
class Script:
    """What the server answers, in order; the last answer repeats."""

    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    hang: float = 0.0
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            if len(self.answers) > 1:
                return self.answers.pop(0)
            return self.answers[0] if self.answers else (200, {}, None)


class Server:
    def __init__(self, script: Script) -> None:
        script_ref = script

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with script_ref.lock:
                    script_ref.received.append((self.path, dict(self.headers), body))
                if script_ref.hang:
                    time.sleep(script_ref.hang)
                status, headers, answer = script_ref.next()
                if answer is None and status == 200:
                    answer = {
                        "accepted": _rows(self.headers, body),
                        "duplicates": 0,
                        "conflicts": 0,
                        "rejected": [],
                    }
                payload = json.dumps(answer or {"error": {"status": status, "message": "no"}})
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _rows(headers: Any, body: bytes) -> int:
    if headers.get("content-type", "").startswith("application/json"):
        return len(json.loads(body)["records"])
    return ipc.open_stream(pa.py_buffer(body)).read_all().num_rows


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def server(script: Script) -> Iterator[Server]:
    s = Server(script)
    yield s
    s.stop()


def _client(url: str, **options: Any) -> Client:
    defaults = {
        "flush_interval": 0.02,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "timeout": 2.0,
        "close_timeout": 2.0,
    }
    return Client(url, **{**defaults, **options})


def _balanced(s: ClientStats) -> bool:
    return s.logged == (
        s.queued
        + s.in_flight
        + s.accepted
        + s.duplicates
        + s.conflicts
        + s.rejected
        + s.dropped_overflow
        + s.dropped_network
        + s.dropped_invalid
        + s.dropped_closed
    )


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_records_arrive_with_their_shape_and_the_token(server: Server, script: Script) -> None:
    client = _client(server.url, token="s3cret")
    client.log_predictions(
        "credit", {"features": {"age": 41}, "prediction": "1", "score": 0.8}, version="3"
    )
    client.log_labels("credit", [{"id": "a", "label": "0"}])
    assert client.flush(5)
    client.close()
    paths = sorted(path for path, _, _ in script.received)
    assert paths == ["/v1/models/credit/labels", "/v1/models/credit/predictions"]
    for path, headers, body in script.received:
        assert headers["authorization"] == "Bearer s3cret"
        record = json.loads(body)["records"][0]
        if path.endswith("predictions"):
            assert record["features"] == {"age": 41} and record["model_version"] == "3"
            assert len(record["id"]) == 32 and abs(record["timestamp"] - time.time()) < 60
        else:
            assert record == {"id": "a", "label": "0"} or record["label"] == "0"
    s = client.stats()
    assert (s.logged, s.accepted, s.sent) == (2, 2, 2) and _balanced(s)


def test_retries_keep_the_ids_and_honour_retry_after(server: Server, script: Script) -> None:
    script.answers = [
        (503, {"Retry-After": "0"}, None),
        (429, {"Retry-After": "0"}, None),
        (200, {}, None),
    ]
    client = _client(server.url)
    client.log_predictions("m", [{"features": {"x": i}} for i in range(3)])
    assert client.flush(5)
    client.close()
    bodies = [json.loads(b)["records"] for _, _, b in script.received]
    assert len(bodies) == 3
    ids = [[r["id"] for r in body] for body in bodies]
    assert ids[0] == ids[1] == ids[2], "a resend carries the same ids, so it is idempotent"
    assert client.stats().accepted == 3


@pytest.mark.parametrize("status", [400, 401, 413, 422, 500])
def test_other_errors_are_not_retried_and_count_as_rejected(
    server: Server, script: Script, status: int
) -> None:
    script.answers = [(status, {}, None)]
    client = _client(server.url)
    client.log_predictions("m", [{"features": {}}] * 4)
    assert client.flush(5)
    client.close()
    assert len(script.received) == 1
    s = client.stats()
    assert (s.rejected, s.accepted) == (4, 0) and _balanced(s)
    assert str(status) in client.last_errors()[-1]


def test_per_record_rejections_in_a_200(server: Server, script: Script) -> None:
    script.answers = [
        (
            200,
            {},
            {
                "accepted": 2,
                "duplicates": 1,
                "conflicts": 0,
                "rejected": [{"index": 3, "id": "x", "errors": ["id: bad"]}],
            },
        )
    ]
    client = _client(server.url)
    client.log_predictions("m", [{"features": {}}] * 4)
    assert client.flush(5)
    client.close()
    s = client.stats()
    assert (s.accepted, s.duplicates, s.rejected) == (2, 1, 1) and _balanced(s)
    assert "id: bad" in client.last_errors()[-1]


def test_a_server_that_is_not_there_drops_after_retries_without_blocking() -> None:
    client = _client(f"http://127.0.0.1:{_dead_port()}", max_retries=2)
    started = time.perf_counter()
    for i in range(100):
        client.log_predictions("m", {"id": str(i), "features": {}})
    assert time.perf_counter() - started < 1.0
    assert client.flush(10)
    client.close()
    s = client.stats()
    assert s.dropped_network == 100 and _balanced(s)


def test_a_hanging_server_neither_blocks_the_caller_nor_close(
    server: Server, script: Script
) -> None:
    script.hang = 5.0
    client = _client(server.url, timeout=10.0, close_timeout=0.5)
    started = time.perf_counter()
    for i in range(1000):
        client.log_predictions("m", {"id": str(i), "features": {}})
    logging_took = time.perf_counter() - started
    time.sleep(0.1)
    started = time.perf_counter()
    client.close()
    closing_took = time.perf_counter() - started
    assert logging_took < 1.0, "log calls return at once while the server hangs"
    assert closing_took < 3 * 0.5 + 1, "close keeps its deadline"
    s = client.stats()
    assert s.queued == s.in_flight == 0 and s.dropped_closed == 1000 and _balanced(s)
    script.hang = 0


def test_a_full_queue_drops_and_counts(server: Server, script: Script) -> None:
    script.hang = 0.3
    client = _client(server.url, max_queue=10, batch_size=5)
    for i in range(50):
        client.log_predictions("m", {"id": str(i), "features": {}})
    s = client.stats()
    assert s.dropped_overflow >= 30 and _balanced(s)
    client.close()
    script.hang = 0


def test_sampling_is_counted(server: Server) -> None:
    client = _client(server.url, sample_rate=0.25, seed=4)
    for i in range(400):
        client.log_predictions("m", {"id": str(i), "features": {}})
    assert client.flush(5)
    client.close()
    s = client.stats()
    assert s.sampled_out + s.logged == 400 and 50 < s.logged < 150
    assert s.accepted == s.logged


def test_the_decorator_records_and_reraises(server: Server, script: Script) -> None:
    client = _client(server.url)

    @client.monitor(model="credit", version="3", id_from=lambda f: f["age"])
    def predict(features: dict[str, Any]) -> dict[str, Any]:
        if features["age"] < 0:
            raise ValueError("age below zero")
        return {"prediction": "1", "score": 0.9}

    @client.monitor(model="credit")
    def predict_kw(age: float, city: str = "Lyon") -> tuple[str, float]:
        return "0", 0.1

    assert predict({"age": 41}) == {"prediction": "1", "score": 0.9}
    with pytest.raises(ValueError, match="age below zero"):
        predict({"age": -1})
    assert predict_kw(30) == ("0", 0.1)
    assert client.flush(5)
    client.close()
    records = [r for _, _, b in script.received for r in json.loads(b)["records"]]
    by_id = {r["id"]: r for r in records}
    assert by_id["41"]["prediction"] == "1" and by_id["41"]["score"] == 0.9
    assert by_id["41"]["model_version"] == "3" and by_id["41"]["latency_ms"] >= 0
    assert by_id["-1"]["error"] == "ValueError: age below zero"
    assert by_id["-1"]["prediction"] is None
    kw = next(r for r in records if r["features"].get("city") == "Lyon")
    assert kw["features"] == {"age": 30, "city": "Lyon"} and kw["score"] == 0.1


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_frames_arrive_as_arrow_streams_with_ids_and_times(
    server: Server, script: Script, kind: str
) -> None:
    data = {"age": [1.0, 2.0, 3.0], "pred": ["a", "b", "a"]}
    frame = {"pandas": pd.DataFrame(data), "polars": pl.DataFrame(data), "arrow": pa.table(data)}[
        kind
    ]
    client = _client(server.url, batch_size=2)
    client.log_predictions("m", frame)
    assert client.flush(5)
    client.close()
    assert {h["content-type"] for _, h, _ in script.received} == {
        "application/vnd.apache.arrow.stream"
    }
    tables = [ipc.open_stream(pa.py_buffer(b)).read_all() for _, _, b in script.received]
    table = pa.concat_tables(tables)
    assert table.num_rows == 3 and {"id", "timestamp", "age", "pred"} <= set(table.column_names)
    assert len(set(table.column("id").to_pylist())) == 3
    assert client.stats().accepted == 3


def test_logging_after_close_and_bad_input_never_raise(server: Server) -> None:
    client = _client(server.url)
    client.log_predictions("m", object())  # not a record
    client.log_predictions("m", [1, 2])
    client.log_predictions("m", {"features": {"x": float("nan")}})  # not JSON
    assert client.flush(5)
    client.close()
    client.log_predictions("m", {"features": {}})
    s = client.stats()
    assert s.dropped_invalid == 4 and s.dropped_closed == 1 and _balanced(s)


def test_bad_options_are_refused_at_construction() -> None:
    for options in ({"batch_size": 0}, {"sample_rate": 0}, {"timeout": 0}, {"max_retries": -1}):
        with pytest.raises(ValueError):
            Client("http://127.0.0.1:1", **options)


answers = st.lists(
    st.sampled_from(
        [(200, {}, None), (503, {"Retry-After": "0"}, None), (422, {}, None), (502, {}, None)]
    ),
    min_size=1,
    max_size=6,
)


@given(answers, st.integers(1, 40), st.integers(1, 7))
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_record_is_counted_once_whatever_the_server_says(
    answer_list: list[tuple[int, dict[str, str], Any]], n: int, batch: int
) -> None:
    script = Script(answers=list(answer_list))
    server = Server(script)
    try:
        client = _client(server.url, batch_size=batch, max_retries=2, max_queue=30)
        for i in range(n):
            client.log_predictions("m", {"id": str(i), "features": {}})
            assert _balanced(client.stats())
        client.flush(10)
        client.close()
        s = client.stats()
        assert _balanced(s) and s.queued == s.in_flight == 0
        assert s.logged == n
    finally:
        server.stop()
