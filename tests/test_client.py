"""The SDK against a real HTTP server on 127.0.0.1 whose behaviour each test scripts.

No mocks: the server is the stdlib's ThreadingHTTPServer in a thread. It answers with a status,
headers and a JSON body, hangs, closes the connection without answering, or is not there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vigil.client.queue
from vigil.client import Client, ClientStats
from vigil.client.sender import _largest

ARROW = "application/vnd.apache.arrow.stream"
COLUMNS = "application/vnd.vigil.columns+json"
COLUMNS_ARROW = "application/vnd.vigil.columns+arrow"  # pyarrow is loaded here: the SDK uses it
JSON_TYPES = ("application/json", COLUMNS, COLUMNS_ARROW)
SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True)
class Act:
    """One scripted behaviour: answer `status` (body None: a 200 accepts every record, an error
    is a vigil error), or hang `hang` seconds then close, or close at once."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    hang: float = 0.0
    close: bool = False


OK = Act()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def records(self) -> list[dict[str, Any]]:
        """The records sent, whether as JSON records or as a columnar body."""
        if self.headers["content-type"] == COLUMNS_ARROW:
            return _from_columns(_arrow_columns(self.body))
        doc = json.loads(self.body)
        if self.headers["content-type"] == COLUMNS:
            return _from_columns(doc)
        return list(doc["records"])

    def table(self) -> pa.Table:
        return pa.ipc.open_stream(pa.py_buffer(self.body)).read_all()


@dataclass
class Script:
    """What the server does, in order; the last behaviour repeats."""

    acts: list[Act] = field(default_factory=lambda: [OK])
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    hanging: int = 0  # requests inside a hang now: not answered, connection still open

    def next(self) -> Act:
        with self.lock:
            return self.acts.pop(0) if len(self.acts) > 1 else self.acts[0]

    def reset(self, acts: list[Act]) -> None:
        with self.lock:
            self.acts, self.received = list(acts), []


class Server:
    """A scripted HTTP/1.1 server on 127.0.0.1 in a daemon thread."""

    def __init__(self, script: Script) -> None:
        self.script = script

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for an ACK

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with script.lock:
                    script.received.append(
                        Received(self.path, _lower(self.headers.items()), body, time.monotonic())
                    )
                act = script.next()
                if act.hang or act.close:
                    with script.lock:
                        script.hanging += 1
                    script.release.wait(act.hang)
                    with script.lock:
                        script.hanging -= 1
                    self.close_connection = True
                    return
                answer = act.body
                if answer is None:
                    answer = (
                        {"accepted": _rows(self.headers, body), "duplicates": 0, "conflicts": 0}
                        | {"rejected": []}
                        if act.status == 200
                        else {"error": {"message": f"scripted {act.status}"}}
                    )
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                try:
                    self.send_response(act.status)
                    for name, value in act.headers:
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up on this request
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.script.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _rows(headers: Any, body: bytes) -> int:
    if headers.get("content-type") == ARROW:
        return int(pa.ipc.open_stream(pa.py_buffer(body)).read_all().num_rows)
    if headers.get("content-type") == COLUMNS_ARROW:
        return len(_from_columns(_arrow_columns(body)))
    doc = json.loads(body)
    if headers.get("content-type") == COLUMNS:
        return len(_from_columns(doc))
    return len(doc["records"])


def _arrow_columns(body: bytes) -> dict[str, Any]:
    """A columnar Arrow body in the shape of the columnar JSON body."""
    table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    doc: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        group, _, inner = name.partition(":")
        doc.setdefault(group, {})[inner] = column.to_pylist()
    return doc


def _from_columns(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A columnar body as the records it carries (every column is as long as the first)."""
    n = len(next(iter(doc["columns"].values())))
    out: list[dict[str, Any]] = [
        {name: values[i] for name, values in doc["columns"].items()} for i in range(n)
    ]
    for group in ("features", "segments"):
        if group in doc:
            for i, record in enumerate(out):
                record[group] = {name: values[i] for name, values in doc[group].items()}
    return out


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def server(script: Script) -> Iterator[Server]:
    s = Server(script)
    yield s
    s.stop()


FAST = {
    "flush_interval": 0.01,
    "backoff": 0.001,
    "max_backoff": 0.01,
    "timeout": 2.0,
    "close_timeout": 2.0,
}


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Clients a test makes; all closed at the end, whatever happened."""
    made: list[Client] = []
    yield made
    for client in made:
        client.close(timeout=1.0)


def _client(made: list[Client], url: str, **options: Any) -> Client:
    client = Client(url, **{**FAST, **options})
    made.append(client)
    return client


def _balanced(s: ClientStats) -> bool:
    parts = (
        s.queued + s.in_flight + s.accepted + s.duplicates + s.conflicts + s.rejected
        + s.dropped_overflow + s.dropped_network + s.dropped_invalid + s.dropped_closed
    )  # fmt: skip
    return s.logged == parts and s.sent == s.accepted + s.duplicates + s.conflicts + s.rejected


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _records(script: Script) -> list[dict[str, Any]]:
    return [
        r
        for got in script.received
        if got.headers["content-type"] in JSON_TYPES
        for r in got.records()
    ]


def _wait_for(condition: Any, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.005)
    return False


# -- what arrives -----------------------------------------------------------------------------


def test_records_arrive_with_their_shape_and_the_token(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url + "/", token="s3cret")
    before = time.time()
    client.log_predictions(
        "credit",
        {"features": {"age": 41, "city": "Lyon"}, "prediction": "1", "score": {"1": 0.8}},
        version="3",
    )
    client.log_predictions("credit", [{"id": "own", "timestamp": 5.0, "model_version": "2"}])
    client.log_labels("credit", [{"id": "own", "label": "0"}])
    assert client.flush(5)
    client.close()
    by_path = {got.path: got for got in script.received}
    assert set(by_path) == {"/v1/models/credit/predictions", "/v1/models/credit/labels"}
    for got in script.received:
        assert got.headers["authorization"] == "Bearer s3cret"
        assert got.headers["content-type"] in JSON_TYPES
    generated, own = by_path["/v1/models/credit/predictions"].records()
    assert uuid.UUID(generated["id"]).hex == generated["id"]
    assert uuid.UUID(generated["id"]).version == 4
    assert before <= generated["timestamp"] <= time.time()
    assert generated["model_version"] == "3" and generated["features"]["city"] == "Lyon"
    assert generated["score"] == {"1": 0.8}
    assert own == {"id": "own", "timestamp": 5.0, "model_version": "2"}, "the record's own win"
    (label,) = by_path["/v1/models/credit/labels"].records()
    assert label["id"] == "own" and label["label"] == "0" and label["timestamp"] >= before
    s = client.stats()
    assert (s.logged, s.sent, s.accepted) == (3, 3, 3) and _balanced(s)


def test_no_token_sends_no_authorization_and_model_names_are_quoted(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)
    client.log_predictions("credit risk/v2", {"features": {}})
    client.close()
    (got,) = script.received
    assert "authorization" not in got.headers
    assert got.path == "/v1/models/credit%20risk%2Fv2/predictions"


def test_batches_are_sent_when_full_and_per_model_and_kind(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url, batch_size=10, max_batch_size=10, flush_interval=60.0)
    for i in range(25):
        client.log_predictions("a", {"id": f"a{i}", "features": {}})
    assert _wait_for(lambda: len(script.received) == 2), "two full batches go without a flush"
    assert [len(got.records()) for got in script.received] == [10, 10]
    assert client.stats().queued == 5, "the rest waits for the interval, a flush or close"
    client.log_predictions("b", {"id": "b0", "features": {}})
    client.log_labels("a", {"id": "a0", "label": 1})
    client.close()
    sizes = {(got.path, len(got.records())) for got in script.received[2:]}
    assert sizes == {
        ("/v1/models/a/predictions", 5),
        ("/v1/models/b/predictions", 1),
        ("/v1/models/a/labels", 1),
    }
    assert client.stats().accepted == 27


def test_records_waiting_past_batch_size_go_in_larger_requests_up_to_max_batch_size(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url, batch_size=10, max_batch_size=25, flush_interval=60.0)
    client.log_predictions("m", [{"id": f"r{i}", "features": {"x": i}} for i in range(64)])
    assert _wait_for(lambda: len(script.received) == 3)
    assert [len(got.records()) for got in script.received] == [25, 25, 14]
    client.log_predictions("m", [{"id": f"r{i}", "features": {"x": i}} for i in range(64, 68)])
    assert client.stats().queued == 4, "fewer than batch_size wait for the interval"
    client.close()
    sent = [r for got in script.received for r in got.records()]
    assert [r["id"] for r in sent] == [f"r{i}" for i in range(68)]
    assert [r["features"]["x"] for r in sent] == list(range(68))
    assert client.stats().accepted == 68


def test_a_request_holds_at_most_a_million_values() -> None:
    wide = {"id": "w", "features": {f"f{i}": 0.0 for i in range(998)}}  # 1,000 values a record
    assert _largest(wide, 10, 20_000) == 1_000
    assert _largest(wide, 5_000, 20_000) == 5_000, "never below batch_size"
    assert _largest({"id": "n", "features": {"x": 1.0}}, 10, 20_000) == 20_000


def test_a_wide_frame_goes_in_slices_of_at_most_max_cells_values(
    server: Server,
    script: Script,
    clients: list[Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vigil.client.queue, "MAX_CELLS", 100)  # 10 rows of 10 columns
    client = _client(clients, server.url, batch_size=2)
    client.log_predictions("m", pa.table({f"f{i}": list(range(25)) for i in range(10)}))
    assert client.flush(5)
    assert [got.table().num_rows for got in script.received] == [10, 10, 5]
    sent = pa.concat_tables([got.table() for got in script.received])
    assert sent.column("f3").to_pylist() == list(range(25))


def test_values_are_sent_as_json_values(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    features = {"n": np.int64(7), "x": np.float32(0.5), "b": np.bool_(True), "gap": float("nan")}
    client.log_predictions("m", {"id": "v", "timestamp": when, "features": features})
    client.close()
    (record,) = _records(script)
    assert record["timestamp"] == "2024-05-01T12:30:00+00:00"
    assert record["features"] == {"n": 7, "x": 0.5, "b": True, "gap": None}, "NaN is missing"


def test_records_of_one_shape_go_as_columns_and_others_as_json_records(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url, batch_size=3, max_batch_size=3, flush_interval=60.0)
    plain = [
        {"features": {"x": i, "city": "Lyon", "gap": None}, "prediction": "1", "score": 0.5}
        for i in range(3)
    ]
    client.log_predictions("m", plain)
    assert _wait_for(lambda: len(script.received) == 1)
    odd_values: list[Any] = [
        float("inf"),  # refused per record, as in JSON
        2**64,  # beyond the server's 64-bit integers
        "\ud800",  # a lone surrogate
        np.float32(0.5),  # not a plain Python value
        True,  # a boolean among integers
    ]
    for odd in odd_values:
        batch = [{"features": {"x": i}} for i in range(2)] + [{"features": {"x": odd}}]
        client.log_predictions("m", batch)
    client.log_predictions("m", [{"features": {"x": 1}}, {"features": {"y": 1}}, {}])
    assert client.flush(5)
    types = [got.headers["content-type"] for got in script.received]
    assert types == [COLUMNS_ARROW] + ["application/json"] * (len(odd_values) + 1)
    (first, *_) = script.received
    sent = first.records()
    assert [r["features"] for r in sent] == [r["features"] for r in plain]
    assert {r["score"] for r in sent} == {0.5} and all(len(r["id"]) == 32 for r in sent)


def test_a_server_without_columnar_bodies_gets_json_records_from_then_on(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(415), OK]
    client = _client(clients, server.url, batch_size=2, flush_interval=60.0)
    client.log_predictions("m", [{"features": {"x": 1}}, {"features": {"x": 2}}])
    assert _wait_for(lambda: len(script.received) == 2)
    client.log_predictions("m", [{"features": {"x": 3}}, {"features": {"x": 4}}])
    assert client.flush(5)
    types = [got.headers["content-type"] for got in script.received]
    assert types == [COLUMNS_ARROW, "application/json", "application/json"]
    assert script.received[0].records() == script.received[1].records(), "the same ids"
    s = client.stats()
    assert (s.accepted, s.rejected) == (4, 0) and _balanced(s)
    assert any("takes no" in e for e in client.last_errors())


# -- retries ----------------------------------------------------------------------------------


def test_a_resend_carries_the_same_ids(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(503, (("Retry-After", "0"),)), OK]
    client = _client(clients, server.url)
    client.log_predictions("m", [{"features": {"x": i}} for i in range(3)])
    assert client.flush(5)
    first, second = script.received
    assert first.body == second.body, "ids and timestamps are fixed before the first attempt"
    assert len({r["id"] for r in first.records()}) == 3
    assert client.stats().accepted == 3


@pytest.mark.parametrize(
    "act",
    [
        Act(429, (("Retry-After", "0"),)),
        Act(502),
        Act(503, (("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),)),  # a date in the past
        Act(504),
        Act(close=True),
        Act(hang=5.0),  # longer than the client's timeout
    ],
    ids=["429", "502", "503-date", "504", "connection-closed", "timeout"],
)
def test_network_errors_and_busy_answers_are_retried(
    server: Server, script: Script, clients: list[Client], act: Act
) -> None:
    script.acts = [act, OK]
    client = _client(clients, server.url, timeout=0.2)
    client.log_predictions("m", [{"features": {"x": i}} for i in range(4)])
    assert client.flush(5)
    assert len(script.received) == 2 and script.received[0].body == script.received[1].body
    s = client.stats()
    assert (s.accepted, s.dropped_network) == (4, 0) and _balanced(s)


def test_retries_stop_after_max_retries(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(503)]
    client = _client(clients, server.url, max_retries=3)
    client.log_predictions("m", [{"features": {}}] * 2)
    assert client.flush(5)
    assert len(script.received) == 4, "one attempt and three retries"
    s = client.stats()
    assert (s.dropped_network, s.sent) == (2, 0) and _balanced(s)
    assert "HTTP 503: scripted 503" in client.last_errors()[-1]


def test_retry_after_is_waited_for_up_to_max_backoff(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(429, (("Retry-After", "0.2"),)), Act(503, (("Retry-After", "3600"),)), OK]
    client = _client(clients, server.url, max_backoff=0.3)
    client.log_predictions("m", {"features": {}})
    assert client.flush(5), "an hour's Retry-After is capped at max_backoff"
    first, second, third = (got.at for got in script.received)
    assert second - first >= 0.19
    assert third - second >= 0.29


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 500])
def test_other_answers_are_final_and_count_as_rejected(
    server: Server, script: Script, clients: list[Client], status: int
) -> None:
    script.acts = [Act(status)]
    client = _client(clients, server.url)
    client.log_predictions("m", [{"features": {}}] * 4)
    assert client.flush(5)
    assert len(script.received) == 1
    s = client.stats()
    assert (s.rejected, s.sent, s.accepted) == (4, 4, 0) and _balanced(s)
    assert client.last_errors()[-1] == f"predictions for 'm': HTTP {status}: scripted {status}"


def test_rejections_duplicates_and_conflicts_in_a_200_are_counted(
    server: Server, script: Script, clients: list[Client]
) -> None:
    answer = {
        "accepted": 2,
        "duplicates": 1,
        "conflicts": 1,
        "rejected": [{"index": 4, "id": "x", "errors": ["score: got a string, expected a number"]}],
    }
    script.acts = [Act(body=answer)]
    client = _client(clients, server.url)
    client.log_predictions("m", [{"features": {}}] * 5)
    assert client.flush(5)
    s = client.stats()
    assert (s.sent, s.accepted, s.duplicates, s.conflicts, s.rejected) == (5, 2, 1, 1, 1)
    assert client.last_errors()[-1] == (
        "predictions for 'm': record 4 (id x) rejected: score: got a string, expected a number"
    )


def test_a_2xx_with_the_batch_counts_is_read_and_pending_labels_are_accepted(
    server: Server, script: Script, clients: list[Client]
) -> None:
    answer = {"accepted": 3, "duplicates": 0, "conflicts": 0, "pending": 2, "rejected": []}
    script.acts = [Act(body=answer)]
    client = _client(clients, server.url)
    client.log_labels("m", [{"id": str(i), "label": 1} for i in range(3)])
    assert client.flush(5)
    s = client.stats()
    assert (s.sent, s.accepted) == (3, 3) and _balanced(s)
    assert len(script.received) == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"<html><body>200 OK from the proxy</body></html>",
        {"accepted": 100, "duplicates": 50, "conflicts": 9, "rejected": [{"index": 0}] * 9},
        {"accepted": 1, "duplicates": 0, "conflicts": 0, "rejected": []},
        {"accepted": 3, "duplicates": 0, "conflicts": 0},
        {"accepted": 3, "duplicates": -1, "conflicts": 1, "rejected": []},
        {"accepted": 3.0, "duplicates": 0, "conflicts": 0, "rejected": []},
        b"OK",
        b"",
        [1, 2],
        b'{"accepted": 3, "duplicates": 1e400, "conflicts": 0, "rejected": []}',
    ],
    ids=[
        "html",
        "counts-too-high",
        "counts-too-low",
        "no-rejected-list",
        "negative-count",
        "float-count",
        "not-json",
        "empty",
        "not-an-object",
        "infinite-count",
    ],
)
def test_a_2xx_that_is_not_the_ingest_answer_is_retried_then_dropped_as_a_network_failure(
    server: Server, script: Script, clients: list[Client], answer: Any
) -> None:
    script.acts = [Act(body=answer)]
    client = _client(clients, server.url, max_retries=2)
    client.log_labels("m", [{"id": str(i), "label": 1} for i in range(3)])
    assert client.flush(5)
    s = client.stats()
    assert (s.accepted, s.sent, s.dropped_network) == (0, 0, 3) and _balanced(s)
    assert len(script.received) == 3, "sent once and retried twice"
    assert "without vigil's ingest answer" in client.last_errors()[-1]


def test_an_html_200_then_the_answer_stores_the_batch_once_with_the_same_ids(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(body=b"<html>maintenance</html>"), OK]
    client = _client(clients, server.url)
    client.log_predictions("m", [{"features": {"x": i}} for i in range(4)])
    assert client.flush(5)
    s = client.stats()
    assert (s.accepted, s.dropped_network) == (4, 0) and _balanced(s)
    first, second = (got.records() for got in script.received)
    assert [r["id"] for r in first] == [r["id"] for r in second]


def test_an_answer_that_cannot_be_decoded_is_retried_like_a_network_failure(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(headers=(("content-encoding", "gzip"),), body=b"not gzip"), OK]
    client = _client(clients, server.url)
    client.log_predictions("m", [{"features": {}}] * 2)
    assert client.flush(5)
    s = client.stats()
    assert (s.dropped_network, s.accepted) == (0, 2) and _balanced(s)
    assert len(script.received) == 2, "retried once"


# -- the caller is never in the way ----------------------------------------------------------


def test_a_server_that_is_not_there_drops_after_retries(clients: list[Client]) -> None:
    client = _client(clients, _dead_url(), max_retries=2)
    for i in range(100):
        client.log_predictions("m", {"id": str(i), "features": {}})
    assert client.flush(10)
    s = client.stats()
    assert (s.dropped_network, s.sent) == (100, 0) and _balanced(s)
    assert "ConnectError" in client.last_errors()[-1]


def test_log_calls_return_at_once_while_the_server_hangs(
    server: Server, script: Script, clients: list[Client]
) -> None:
    # The server holds the first request until the test ends. Had a log call waited on the
    # server, it could only return after that, when the request no longer hangs.
    script.acts = [Act(hang=120.0)]
    client = _client(clients, server.url, batch_size=50, max_queue=500, timeout=120.0)
    client.log_predictions("m", [{"features": {}}] * 50)
    assert _wait_for(lambda: script.hanging == 1), "the first batch hangs"
    for i in range(2000):  # enough to fill the queue meanwhile
        client.log_predictions("m", {"id": str(i), "features": {"x": i}})
    assert script.hanging == 1 and not script.release.is_set(), "all returned during the hang"
    assert len(script.received) == 1
    s = client.stats()
    assert (s.in_flight, s.queued, s.dropped_overflow) == (50, 500, 1500) and _balanced(s)
    client.close(timeout=0.1)
    assert script.hanging == 1, "close() did not wait for the hung request either"
    assert client.stats().dropped_closed == 550


def test_close_keeps_its_deadline_when_the_server_hangs(
    server: Server, script: Script, clients: list[Client]
) -> None:
    # The server would hang each request for two minutes and the client would wait for it as
    # long: only close_timeout can end close() while the request still hangs.
    script.acts = [Act(hang=120.0)]
    client = _client(clients, server.url, timeout=120.0, close_timeout=0.3, batch_size=10)
    for i in range(100):
        client.log_predictions("m", {"id": str(i), "features": {}})
    assert _wait_for(lambda: script.hanging > 0 and client.stats().in_flight > 0)
    client.close()
    assert script.hanging == 1 and not script.release.is_set(), "close() returned mid-hang"
    assert len(script.received) == 1, "no other request was started"
    s = client.stats()
    assert (s.queued, s.in_flight, s.dropped_closed) == (0, 0, 100) and _balanced(s)
    assert client.flush(0), "nothing is left to wait for"
    errors = client.last_errors()
    server.stop()  # the hung request now ends; its late outcome is not counted again
    assert _wait_for(lambda: not client._sender.is_alive())
    assert client.stats() == s and client.last_errors() == errors


def test_requests_made_while_closing_end_by_the_deadline(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(hang=30.0)]
    client = _client(clients, server.url, timeout=30.0, close_timeout=0.3, flush_interval=60.0)
    client.log_predictions("m", {"features": {}})
    client.close()
    assert len(script.received) == 1, "close() sent the queued record"
    assert _wait_for(lambda: not client._sender.is_alive(), 1.0), (
        "the request's timeout was cut to what was left of close_timeout, so the thread ended"
    )
    assert client.stats().dropped_closed == 1


def test_close_sends_what_is_queued(server: Server, script: Script, clients: list[Client]) -> None:
    client = _client(clients, server.url, flush_interval=60.0)
    client.log_predictions("m", [{"features": {}}] * 7)
    client.close()
    assert len(_records(script)) == 7 and client.stats().accepted == 7
    assert not client._sender.is_alive()


def test_flush_says_when_its_timeout_ran_out(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(hang=30.0)]
    client = _client(clients, server.url, timeout=30.0, close_timeout=0.1)
    client.log_predictions("m", {"features": {}})
    assert client.flush(0.1) is False
    client.close()
    assert client.stats().dropped_closed == 1


def test_a_full_queue_drops_and_counts(clients: list[Client]) -> None:
    client = _client(clients, _dead_url(), max_queue=10, flush_interval=60.0, batch_size=100)
    for i in range(25):
        client.log_predictions("m", {"id": str(i), "features": {}})
    client.log_predictions("m", pa.table({"x": list(range(30))}))
    s = client.stats()
    assert (s.logged, s.queued, s.dropped_overflow) == (55, 10, 45) and _balanced(s)
    assert _wait_for(lambda: any("the queue is full (10)" in e for e in client.last_errors()))


def test_the_counts_add_up_at_every_moment(
    server: Server, script: Script, clients: list[Client]
) -> None:
    script.acts = [Act(503, (("Retry-After", "0"),)), OK, Act(422), Act(close=True), OK] * 20
    client = _client(clients, server.url, batch_size=10, max_queue=200, max_retries=1)
    checked, unbalanced = [0], []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            s = client.stats()
            checked[0] += 1
            if not _balanced(s):
                unbalanced.append(s)

    def log(worker: int) -> None:
        for i in range(200):
            client.log_predictions("m", {"id": f"{worker}-{i}", "features": {"x": i}})

    threads = [threading.Thread(target=watch)] + [
        threading.Thread(target=log, args=(w,)) for w in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    client.close()
    done.set()
    threads[0].join()
    s = client.stats()
    assert checked[0] > 10 and unbalanced == []
    assert _balanced(s) and s.logged == 800 and s.queued == s.in_flight == 0


answers = st.sampled_from(
    [
        OK,
        Act(body={"accepted": 1, "duplicates": 1, "conflicts": 1, "rejected": [{"index": 0}]}),
        Act(503, (("Retry-After", "0"),)),
        Act(429),
        Act(502),
        Act(400),
        Act(422),
        Act(500),
        Act(close=True),
        Act(hang=0.1),
    ]
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[Server]:
    s = Server(Script())
    yield s
    s.stop()


@given(
    acts=st.lists(answers, min_size=1, max_size=8),
    n=st.integers(0, 40),
    batch_size=st.integers(1, 8),
    max_queue=st.integers(1, 30),
    flush_first=st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_every_record_is_counted_once_whatever_the_server_does(
    shared_server: Server,
    acts: list[Act],
    n: int,
    batch_size: int,
    max_queue: int,
    flush_first: bool,
) -> None:
    shared_server.script.reset(acts)
    options = {**FAST, "timeout": 0.03, "close_timeout": 0.2, "max_retries": 2}
    client = Client(shared_server.url, batch_size=batch_size, max_queue=max_queue, **options)
    try:
        for i in range(n):
            client.log_predictions("m", {"id": str(i), "features": {"x": i}})
            assert _balanced(client.stats())
        if flush_first:
            client.flush(5)
            assert _balanced(client.stats())
    finally:
        client.close()
    s = client.stats()
    assert _balanced(s) and s.logged == n and s.queued == s.in_flight == 0


# -- sampling, the decorator, frames ---------------------------------------------------------


def test_sampling_with_a_seed_is_counted_and_repeatable(
    server: Server, script: Script, clients: list[Client]
) -> None:
    kept = []
    for _ in range(2):
        client = _client(clients, server.url, sample_rate=0.25, seed=4)
        for i in range(400):
            client.log_predictions("m", {"id": str(i), "features": {}})
        client.log_predictions("m", pa.table({"x": list(range(400))}))
        client.close()
        s = client.stats()
        assert s.sampled_out + s.logged == 800 and 100 < s.logged < 300
        assert s.accepted == s.logged and _balanced(s)
        kept.append(s.logged)
    assert kept[0] == kept[1]
    assert len(_records(script)) + sum(
        got.table().num_rows for got in script.received if got.headers["content-type"] == ARROW
    ) == sum(kept)


def test_the_decorator_records_calls_and_reraises(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)
    raised = ValueError("age below zero")

    @client.monitor(model="credit", version="3", id_from=lambda f: f["request"])
    def predict(features: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.02)
        if features["age"] < 0:
            raise raised
        return {"prediction": "1", "score": 0.9, "other": 1}

    @client.monitor(model="credit")
    def predict_args(age: float, city: str = "Lyon", **extra: Any) -> tuple[str, float]:
        return "0", 0.1

    class Model:
        @client.monitor(model="credit")
        def predict(self, features: dict[str, Any]) -> int:
            return 7

    assert predict({"request": "r1", "age": 41}) == {"prediction": "1", "score": 0.9, "other": 1}
    with pytest.raises(ValueError) as caught:
        predict({"request": "r2", "age": -1})
    assert caught.value is raised, "the user's own exception, unchanged"
    assert predict_args(30, seg="a") == ("0", 0.1)
    assert Model().predict({"request": "r3"}) == 7
    assert predict.__name__ == "predict"
    client.close()
    records = {r.get("features", {}).get("request", "args"): r for r in _records(script)}
    ok, failed, args, method = records["r1"], records["r2"], records["args"], records["r3"]
    assert ok["id"] == "r1" and ok["model_version"] == "3"
    assert (ok["prediction"], ok["score"], ok["error"]) == ("1", 0.9, None)
    assert ok["features"] == {"request": "r1", "age": 41} and ok["latency_ms"] >= 20
    assert failed["error"] == "ValueError: age below zero" and failed["prediction"] is None
    assert failed["latency_ms"] >= 20 and "score" not in failed
    assert args["features"] == {"age": 30, "city": "Lyon", "seg": "a"}
    assert (args["prediction"], args["score"]) == ("0", 0.1)
    assert method["prediction"] == 7 and method["features"] == {"request": "r3"}
    assert client.stats().accepted == 4


def test_the_decorator_wraps_async_functions(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)

    @client.monitor(model="m")
    async def predict(x: float) -> float:
        await asyncio.sleep(0.01)
        return x * 2

    assert asyncio.run(predict(2.0)) == 4.0
    client.close()
    (record,) = _records(script)
    assert record["features"] == {"x": 2.0} and record["prediction"] == 4.0
    assert record["latency_ms"] >= 10


def test_a_failing_id_from_keeps_the_record(
    server: Server, script: Script, clients: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(clients, server.url)

    @client.monitor(model="m", id_from=lambda f: f["missing"])
    def predict(features: dict[str, Any]) -> int:
        return 1

    assert predict({"x": 1}) == 1
    client.close()
    (record,) = _records(script)
    assert len(record["id"]) == 32 and "id_from failed" in client.last_errors()[-1]
    assert any("id_from failed" in r.getMessage() for r in caplog.records)


def test_an_id_taken_from_the_features_by_name_is_not_sent_as_a_feature(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)

    @client.monitor(model="m", id_from="request_id")
    def predict(features: dict[str, Any]) -> int:
        return 1

    @client.monitor(model="m", id_from="request_id")
    def predict_args(request_id: str, age: float, **extra: Any) -> int:
        return 2

    caller = {"request_id": "req-1", "age": 41}
    assert predict(caller) == 1
    assert caller == {"request_id": "req-1", "age": 41}, "the caller's dict is left alone"
    assert predict_args("req-2", 30.0, city="Lyon") == 2
    assert predict({"request_id": 7, "age": 5}) == 1  # an integer id is sent as text
    client.close()
    by_id = {r["id"]: r for r in _records(script)}
    assert by_id["req-1"]["features"] == {"age": 41}
    assert by_id["req-2"]["features"] == {"age": 30.0, "city": "Lyon"}
    assert by_id["7"]["features"] == {"age": 5}
    assert client.stats().accepted == 3 and client.last_errors() == []


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ({"age": 41}, "'request_id' is not among the call's features"),
        ({"request_id": None, "age": 41}, "'request_id' is null"),
        ({"request_id": "", "age": 41}, "'request_id' is ''"),
        ({"request_id": {"nested": 1}, "age": 41}, "'request_id' is a dict"),
        ({"request_id": 1.5, "age": 41}, "'request_id' is a float"),
    ],
    ids=["missing", "null", "empty", "nested", "float"],
)
def test_a_named_id_that_cannot_be_used_keeps_the_record_with_a_random_id(
    server: Server,
    script: Script,
    clients: list[Client],
    features: dict[str, Any],
    reason: str,
) -> None:
    client = _client(clients, server.url)

    @client.monitor(model="m", id_from="request_id")
    def predict(features: dict[str, Any]) -> int:
        return 1

    assert predict(features) == 1
    client.close()
    (record,) = _records(script)
    assert len(record["id"]) == 32 and uuid.UUID(record["id"]).version == 4
    assert record["features"] == {"age": 41}, "the unusable id is not sent as a feature"
    (error,) = client.last_errors()
    assert "predictions for 'm': id_from" in error and reason in error, error
    assert client.stats().accepted == 1


def test_an_id_function_that_returns_no_usable_id_keeps_the_record_with_a_random_id(
    server: Server, script: Script, clients: list[Client]
) -> None:
    client = _client(clients, server.url)

    @client.monitor(model="m", id_from=lambda f: f.get("rid"))
    def predict(features: dict[str, Any]) -> int:
        return 1

    for rid in (None, "", 2.5, True, np.int64(12), "r-5"):
        predict({"rid": rid})
    client.close()
    ids = [r["id"] for r in _records(script)]
    assert all(len(i) == 32 for i in ids[:4]) and ids[4:] == ["12", "r-5"]
    assert [r["features"] for r in _records(script)][5] == {"rid": "r-5"}, (
        "a function takes out nothing"
    )
    errors = client.last_errors()
    assert [e.split("id_from ")[1].split(",")[0] for e in errors] == [
        "returned null",
        "returned ''",
        "returned a float",
        "returned a bool",
    ]


@pytest.mark.parametrize("id_from", ["", 3, b"request_id", ["request_id"]])
def test_an_id_from_that_is_neither_a_name_nor_a_function_is_refused_at_decoration(
    server: Server, clients: list[Client], id_from: Any
) -> None:
    client = _client(clients, server.url)
    with pytest.raises(ValueError, match="id_from must be a feature name"):
        client.monitor(model="m", id_from=id_from)


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_frames_arrive_as_arrow_streams_with_ids_and_times(
    server: Server, script: Script, clients: list[Client], kind: str
) -> None:
    data = {"age": [1.0, 2.0, 3.0], "prediction": ["a", "b", "a"], "score": [0.1, 0.5, 0.9]}
    make = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "arrow": pa.table}[kind]
    client = _client(clients, server.url, batch_size=2, max_batch_size=2)
    before = time.time()
    client.log_predictions("m", make(data), version="4")
    client.log_labels("m", make({"id": ["x", "y"], "label": ["a", "b"]}))
    assert client.flush(5)
    assert {got.headers["content-type"] for got in script.received} == {ARROW}
    predictions = [got.table() for got in script.received if got.path.endswith("predictions")]
    assert sorted(t.num_rows for t in predictions) == [1, 2]
    table = pa.concat_tables(predictions)
    assert set(table.column_names) == {
        "age",
        "prediction",
        "score",
        "id",
        "timestamp",
        "model_version",
    }
    ids = table.column("id").to_pylist()
    assert len(set(ids)) == 3 and all(uuid.UUID(i).version == 4 for i in ids)
    assert all(before <= t <= time.time() for t in table.column("timestamp").to_pylist())
    assert set(table.column("model_version").to_pylist()) == {"4"}
    (labels,) = [got.table() for got in script.received if got.path.endswith("labels")]
    assert labels.column("id").to_pylist() == ["x", "y"] and "timestamp" in labels.column_names
    assert client.stats().accepted == 5


# -- what cannot be sent, after close, options -----------------------------------------------


def test_what_cannot_be_sent_is_counted_invalid_and_spoils_nothing_else(
    server: Server, script: Script, clients: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(clients, server.url)
    client.log_predictions("m", object())  # not a record
    client.log_predictions("m", np.zeros((5, 2)))  # not a frame vigil reads: 5 rows
    client.log_predictions("m", [1, {"id": "ok-1", "features": {}}, "two"])
    client.log_predictions("m", {"id": "bad-set", "features": {"x": {1, 2}}})
    client.log_predictions("m", {"id": "bad-inf", "features": {"x": float("inf")}})
    client.log_predictions("m", {"id": "ok-2", "features": {}})
    client.log_predictions(None, {"features": {}})  # type: ignore[arg-type]
    client.log_labels("m", {"label": 1})  # a label without the id of its prediction
    client.log_labels("m", pa.table({"label": [1, 2]}))
    assert client.flush(5)
    client.close()
    assert sorted(r["id"] for r in _records(script)) == ["ok-1", "ok-2"]
    s = client.stats()
    assert (s.accepted, s.dropped_invalid) == (2, 1 + 5 + 2 + 1 + 1 + 1 + 1 + 2) and _balanced(s)
    warnings = [r for r in caplog.records if r.name == "vigil.client"]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert len(warnings) < 10, "warnings are rate-limited; the reasons are in last_errors()"
    errors = "\n".join(client.last_errors())
    for reason in ("got object", "set {1, 2} is not a JSON value", "Out of range float"):
        assert reason in errors
    assert "a label needs the id of its prediction" in errors and "model name None" in errors


def test_logging_after_close_is_counted_and_never_raises(
    server: Server, clients: list[Client]
) -> None:
    with _client(clients, server.url) as client:
        client.log_predictions("m", {"features": {}})
    client.log_predictions("m", {"features": {}})
    client.log_predictions("m", [{"features": {}}] * 2)
    client.log_predictions("m", pd.DataFrame({"x": [1, 2, 3]}))
    client.log_labels("m", {"id": "a", "label": 1})
    client.close()
    s = client.stats()
    assert (s.accepted, s.dropped_closed, s.queued) == (1, 7, 0) and _balanced(s)


@pytest.mark.parametrize(
    "options",
    [
        {"url": "vigil.internal:8000"},
        {"url": "ftp://vigil.internal"},
        {"token": ""},
        {"token": "a\nb"},
        {"batch_size": 0},
        {"batch_size": 1.5},
        {"max_batch_size": 0},
        {"max_batch_size": 5, "batch_size": 10},
        {"max_queue": 0},
        {"flush_interval": 0},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"max_retries": -1},
        {"backoff": -0.1},
        {"max_backoff": 0.1, "backoff": 1.0},
        {"sample_rate": 0},
        {"sample_rate": 1.5},
        {"close_timeout": float("inf")},
        {"seed": "x"},
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any]) -> None:
    url = options.pop("url", "http://127.0.0.1:1")
    with pytest.raises(ValueError, match=next(iter(options), "url")):
        Client(url, **options)


def test_an_unclosed_client_is_collected_and_sends_what_it_had(
    server: Server, script: Script
) -> None:
    client = Client(server.url, **{**FAST, "flush_interval": 0.05})
    client.log_predictions("m", {"id": "orphan", "features": {}})
    thread, ref = client._sender._thread, weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None, "neither the thread nor the exit hook keeps the client alive"
    thread.join(5)
    assert not thread.is_alive()
    assert [r["id"] for r in _records(script)] == ["orphan"]


@pytest.mark.parametrize(
    "situation",
    ["waiting-for-the-interval", "backing-off-between-retries"],
)
def test_an_unclosed_client_s_thread_ends_by_its_close_deadline(
    server: Server, script: Script, situation: str
) -> None:
    # close_timeout 0.5 s; the interval (60 s) or the backoff (60 s) would keep it far longer
    if situation == "backing-off-between-retries":
        script.acts = [Act(503)]
    options = {**FAST, "flush_interval": 60.0, "close_timeout": 0.5, "max_retries": 3}
    options |= {"backoff": 60.0, "max_backoff": 60.0, "batch_size": 3}
    client = Client(server.url, **options)
    client.log_predictions("m", [{"id": "a", "features": {}}] * 2)
    if situation == "backing-off-between-retries":
        client.log_predictions("m", {"id": "b", "features": {}})  # a full batch: sent, 503
        assert _wait_for(lambda: len(script.received) == 1)
    thread, ref = client._sender._thread, weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None
    assert _wait_for(lambda: not thread.is_alive(), 10.0), "the thread outlived its deadline"
    if situation == "waiting-for-the-interval":
        assert [r["id"] for r in _records(script)] == ["a", "a"], "it sent what it had"
    else:
        assert len(script.received) < 4, "no retry after the deadline"


def test_a_client_collected_just_before_exit_still_sends_what_it_had(
    server: Server, script: Script
) -> None:
    code = f"""
        import gc
        from vigil.client import Client

        client = Client({server.url!r}, flush_interval=60.0, close_timeout=5.0)
        client.log_predictions("m", {{"id": "collected", "features": {{}}}})
        del client
        gc.collect()
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in _records(script)] == ["collected"]


def test_the_exit_hook_sends_what_is_queued_without_the_server_dependencies(
    server: Server, script: Script
) -> None:
    code = f"""
        import sys, types

        class Refuse:  # the SDK runs inside prediction services: no server dependencies
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                other_vigil = name.startswith("vigil.") and not name.startswith("vigil.client")
                if other_vigil or top in {{"fastapi", "starlette", "duckdb", "pydantic"}}:
                    raise ImportError(f"the SDK imported {{name}}")

        sys.meta_path.insert(0, Refuse())
        package = types.ModuleType("vigil")  # skip vigil/__init__.py, which the test cannot
        package.__path__ = [{str(SRC / "vigil")!r}]
        sys.modules["vigil"] = package
        from vigil.client import Client

        client = Client({server.url!r}, flush_interval=60.0)
        client.log_predictions("m", {{"id": "at-exit", "features": {{}}}})
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in _records(script)] == ["at-exit"]
