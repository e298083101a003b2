"""Records from the real brokers into the store: once each, bad messages quarantined and
acked, duplicates counted once, memory bounded when the store is slow."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from tests.service.conftest import records
from tests.sources.brokers import BROKERS, new_channel
from tests.sources.conftest import quarantine, serving, stored, wait_for

from vigil.errors import StoreError
from vigil.sources import running
from vigil.store import open_store


def json_body(recs: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"records": recs})


def arrow_body(recs: list[dict[str, Any]]) -> bytes:
    table = pa.table(
        {
            "id": [r["id"] for r in recs],
            "timestamp": [r["timestamp"] for r in recs],
            "age": [r["features"]["age"] for r in recs],
            "income": [r["features"]["income"] for r in recs],
            "city": [r["features"]["city"] for r in recs],
            "pred": [r["prediction"] for r in recs],
            "proba": [r["score"] for r in recs],
            "region": [r["segments"]["region"] for r in recs],
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.fixture(params=BROKERS)
def channel(request: pytest.FixtureRequest) -> Any:
    made = new_channel(request.param)
    yield made
    made.delete()


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_published_records_are_stored_once_even_when_published_twice(
    tmp_path: Path, channel: Any, fmt: str
) -> None:
    encode = json_body if fmt == "json" else arrow_body
    bodies = [encode(records(50, prefix=f"m{i}-")) for i in range(10)]
    again = bodies[:3]  # a publisher that retried: the same records twice
    channel.publish(bodies + again)
    with serving(tmp_path, channel.source(format=fmt, batch=4)) as run:
        wait_for(lambda: run.consumer.stats.messages["acked"] >= 13, "13 messages acked")
        stats = run.consumer.stats
        assert stats.records["accepted"] == 500
        assert stats.records["duplicate"] == 150
        wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
        metrics = run.live.client.get("/metrics").text
    n, distinct, ids = stored(tmp_path / "vigil.duckdb")
    assert n == distinct == 500
    assert set(ids) == {f"m{i}-{j}" for i in range(10) for j in range(50)}
    assert f'vigil_source_messages_total{{outcome="acked",source="src-{channel.broker}"}} 13.0' in (
        metrics
    )


def test_bad_messages_go_to_the_quarantine_with_their_reason_and_are_acked(
    tmp_path: Path, channel: Any
) -> None:
    good = records(20, prefix="good-")
    wrong_type = records(1, prefix="typed-")[0] | {"features": {"age": "old"}}
    no_id = {k: v for k, v in records(1, prefix="noid-")[0].items() if k != "id"}
    single = records(1, prefix="single-")[0]
    bodies = [
        json_body(good),
        b"not json at all",
        json_body(good[:1])[:-7],  # truncated
        json_body([wrong_type, no_id]),
        orjson.dumps(single),  # one record per message
        json_body(records(2000, prefix="huge-")),  # past max_body
        b"",
    ]
    channel.publish(bodies)
    with serving(tmp_path, channel.source(), max_body=256 * 1024, max_inflight_bytes=2**20) as run:
        wait_for(lambda: run.consumer.stats.messages["acked"] >= len(bodies), "all acked")
        wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
        assert run.consumer.stats.messages["quarantined"] == 4
    _, _, ids = stored(tmp_path / "vigil.duckdb")
    assert sorted(ids) == sorted([r["id"] for r in good] + ["single-0"])
    rows = quarantine(tmp_path / "vigil.duckdb")
    reasons = "\n".join(errors for _, errors, _ in rows)
    prefix = f"source src-{channel.broker}, message "
    assert all(e.startswith(prefix) for _, errors, _ in rows for e in orjson.loads(errors))
    assert "not valid JSON" in reasons
    assert "more than limits.max_body" in reasons
    assert "id: missing" in reasons
    assert "features.age: got a string, expected a number" in reasons
    assert "the body is empty" in reasons
    by_id = {record_id: errors for record_id, errors, _ in rows}
    assert "typed-0" in by_id
    assert len(rows) == 6  # 4 unreadable messages, 2 bad records


def test_a_truncated_arrow_message_is_quarantined_and_the_good_one_stored(
    tmp_path: Path, channel: Any
) -> None:
    good = arrow_body(records(30, prefix="a-"))
    channel.publish([good[: len(good) // 2], good])
    with serving(tmp_path, channel.source(format="arrow")) as run:
        wait_for(lambda: run.consumer.stats.messages["acked"] >= 2, "both acked")
        wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
    n, distinct, _ = stored(tmp_path / "vigil.duckdb")
    assert n == distinct == 30
    [(record_id, errors, _)] = quarantine(tmp_path / "vigil.duckdb")
    assert record_id is None and "arrow" in errors.lower()


class SlowStore:
    """The real DuckDB store, each write of predictions a quarter second slower."""

    def __init__(self, path: Path) -> None:
        self._store = open_store(path)

    def write_predictions(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.25)
        return self._store.write_predictions(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_slow_store_stops_the_pulling_and_memory_stays_bounded(
    tmp_path: Path, channel: Any
) -> None:
    channel.publish([json_body(records(100, prefix=f"s{i}-")) for i in range(40)])
    store = SlowStore(tmp_path / "vigil.duckdb")
    peaks: list[int] = []
    held_back: list[int] = []
    stop = threading.Event()
    source = channel.source(batch=10, max_inflight=300)
    try:
        with serving(tmp_path, source, store=store) as run:  # type: ignore[arg-type]

            def sample() -> None:
                while not stop.is_set():
                    peaks.append(run.consumer.stats.inflight)
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            wait_for(lambda: run.consumer.stats.records["accepted"] > 0, "a first batch stored")
            held_back.append(channel.outstanding())
            wait_for(lambda: run.consumer.stats.records["accepted"] == 4000, "all stored")
            stop.set()
            sampler.join()
            assert run.consumer.stats.peak_inflight <= 300
    finally:
        stop.set()
        store.close()
    assert max(peaks) <= 300
    assert max(peaks) > 0
    assert held_back[0] > 20, "the broker still held most messages while the store was slow"
    n, distinct, _ = stored(tmp_path / "vigil.duckdb")
    assert n == distinct == 4000


def test_a_redis_entry_without_the_body_field_is_quarantined_and_acked(tmp_path: Path) -> None:
    channel = new_channel("redis")
    try:
        channel.publish_raw({b"payload": b"{}"})
        channel.publish([json_body(records(5, prefix="b-"))])
        with serving(tmp_path, channel.source()) as run:
            wait_for(lambda: run.consumer.stats.messages["acked"] >= 2, "both acked")
            wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
    finally:
        channel.delete()
    assert stored(tmp_path / "vigil.duckdb")[:2] == (5, 5)
    [(_, errors, _)] = quarantine(tmp_path / "vigil.duckdb")
    assert "the entry has no field 'body' (fields: payload)" in errors


def test_labels_from_a_broker_join_the_predictions_once(tmp_path: Path) -> None:
    channel = new_channel("rabbitmq")
    preds = records(40, prefix="p-")
    labels = [{"id": r["id"], "label": r["prediction"]} for r in preds]
    try:
        channel.publish([json_body(labels[:25]), json_body(labels[15:]), b"[1, 2"])
        with serving(tmp_path, channel.source(kind="labels")) as run:
            posted = run.live.client.post("/v1/models/credit/predictions", json={"records": preds})
            assert posted.json()["accepted"] == 40
            wait_for(lambda: run.consumer.stats.messages["acked"] >= 3, "all acked")
            assert run.consumer.stats.records["accepted"] == 40
            assert run.consumer.stats.records["duplicate"] == 10
    finally:
        channel.delete()
    with duckdb.connect(str(tmp_path / "vigil.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT id, label FROM l_1").fetchall()
    assert sorted(rows) == sorted((x["id"], x["label"]) for x in labels)
    [(_, errors, _)] = quarantine(tmp_path / "vigil.duckdb")
    assert "not valid JSON" in errors or "must be a JSON object" in errors


class AckLostOnce:
    """The real broker client, whose connection drops once after a batch was stored and
    before its ack reached the broker."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dropped = False
        self.lost = 0  # messages whose ack was lost (stored, so redelivered as duplicates)

    def ack(self, messages: Any) -> None:
        if not self.dropped:
            self.dropped = True
            self.lost = len(messages)
            self.inner.close()
            raise ConnectionError("the connection dropped before the ack")
        self.inner.ack(messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_batch_stored_but_never_acked_is_redelivered_and_counted_once(
    tmp_path: Path, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = running.broker_for
    monkeypatch.setattr(running, "broker_for", lambda config: AckLostOnce(real(config)))
    channel.publish([json_body(records(30, prefix=f"d{i}-")) for i in range(6)])
    with serving(tmp_path, channel.source(batch=3)) as run:
        wait_for(lambda: run.consumer.stats.records["accepted"] == 180, "all stored", 90)
        wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker", 90)
        stats = run.consumer.stats
        assert run.consumer.broker.dropped
        assert stats.messages["redelivered"] >= run.consumer.broker.lost >= 1
        # the records of the messages whose ack was lost, stored again; how many messages
        # the first fetch held depends on how many the broker had delivered by then
        assert stats.records["duplicate"] == 30 * run.consumer.broker.lost
    n, distinct, _ = stored(tmp_path / "vigil.duckdb")
    assert n == distinct == 180


class DownStore:
    """The real DuckDB store, down (every write fails) until `up` is set."""

    def __init__(self, path: Path) -> None:
        self._store = open_store(path)
        self.up = threading.Event()
        self.refused = 0

    def write_predictions(self, *args: Any, **kwargs: Any) -> Any:
        if not self.up.is_set():
            self.refused += 1
            raise StoreError("the database is unreachable")
        return self._store.write_predictions(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_while_the_store_is_down_nothing_is_acked_and_all_is_stored_once_it_is_back(
    tmp_path: Path, channel: Any
) -> None:
    channel.publish([json_body(records(50, prefix=f"u{i}-")) for i in range(4)])
    store = DownStore(tmp_path / "vigil.duckdb")
    try:
        with serving(tmp_path, channel.source(batch=2), store=store) as run:  # type: ignore[arg-type]
            wait_for(lambda: store.refused >= 2, "two refused writes")
            assert run.consumer.stats.messages["acked"] == 0
            # RabbitMQ counts ready messages: the 2 of the prefetch window are out, unacked
            assert channel.outstanding() == (2 if channel.broker == "rabbitmq" else 4)
            store.up.set()
            wait_for(lambda: run.consumer.stats.messages["acked"] == 4, "all acked")
            wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
            assert run.consumer.stats.retries >= 2
            assert "the store failed: StoreError" in (run.consumer.stats.last_error or "")
    finally:
        store.close()
    n, distinct, _ = stored(tmp_path / "vigil.duckdb")
    assert n == distinct == 200


def columns_body(recs: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "columns": {
                "id": [r["id"] for r in recs],
                "timestamp": [r["timestamp"] for r in recs],
                "prediction": [r["prediction"] for r in recs],
                "score": [r["score"] for r in recs],
                "latency_ms": [r["latency_ms"] for r in recs],
            },
            "features": {f: [r["features"][f] for r in recs] for f in ("age", "income", "city")},
            "segments": {"region": [r["segments"]["region"] for r in recs]},
        }
    )


def test_the_sdk_columns_format_is_stored_as_over_http(tmp_path: Path) -> None:
    channel = new_channel("nats")
    recs = records(40, prefix="c-")
    bad = columns_body(recs[:2])[:-3]  # truncated
    try:
        channel.publish([columns_body(recs[:25]), bad, columns_body(recs[25:])])
        with serving(tmp_path, channel.source(format="columns")) as run:
            wait_for(lambda: run.consumer.stats.messages["acked"] >= 3, "all acked")
            wait_for(lambda: channel.outstanding() == 0, "nothing left on the broker")
            # the same records over HTTP as JSON records: the same values were stored
            answer = run.live.client.post("/v1/models/credit/predictions", json={"records": recs})
            assert (answer.json()["duplicates"], answer.json()["conflicts"]) == (40, 0)
    finally:
        channel.delete()
    with duckdb.connect(str(tmp_path / "vigil.duckdb"), read_only=True) as con:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM p_1").fetchone()
    assert n == distinct == 40
    [(record_id, errors, _)] = quarantine(tmp_path / "vigil.duckdb")
    assert record_id is None
    assert "message VIGILTEST_" in errors and "not readable as columnar JSON" in errors
