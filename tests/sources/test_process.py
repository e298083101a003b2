"""A real `vigil serve` consuming a stream being published to, killed with SIGKILL mid-stream
and started again: the store ends with every published id exactly once, for each broker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import ServeProcess, credit_config, records
from tests.sources.brokers import BROKERS, new_channel
from tests.sources.conftest import stored, wait_for


def source_counts(url: str) -> dict[str, float]:
    """vigil_source_messages by outcome, as /metrics shows them."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "vigil_source_messages_total":
                out[sample.labels["outcome"]] = sample.value
    return out


@pytest.mark.parametrize("broker", BROKERS)
def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, broker: str
) -> None:
    channel = new_channel(broker)
    published: list[str] = []
    done = threading.Event()
    ready = threading.Event()

    def publish() -> None:
        for i in range(150):
            if i == 20:
                ready.wait(120)  # the rest while vigil consumes, killed and started again
            recs = records(100, prefix=f"k{i}-")
            channel.publish([orjson.dumps({"records": recs})])
            published.extend(r["id"] for r in recs)
            time.sleep(0.05)
        done.set()

    config = credit_config(tmp_path, sources=[channel.source(batch=5)])
    publisher = threading.Thread(target=publish)
    server = None
    try:
        publisher.start()
        server = ServeProcess(["--config", str(config)])
        server.wait_ready()
        ready.set()
        first = server
        wait_for(lambda: source_counts(first.url).get("acked", 0) >= 20, "20 messages acked")
        server.kill9()
        server = None
        assert not done.is_set(), "the kill came mid-stream"
        server = ServeProcess(["--config", str(config)])
        server.wait_ready()
        publisher.join(120)
        second = server

        def drained() -> bool:
            counts = source_counts(second.url)
            return channel.outstanding() == 0 and counts.get("acked") == counts.get("consumed")

        wait_for(drained, "every message acked", timeout=120)
        server.stop()
        server = None
        assert channel.outstanding() == 0
    finally:
        ready.set()
        if server is not None:
            server.stop()
        publisher.join(120)
        channel.delete()
    n, distinct, ids = stored(tmp_path / "vigil.duckdb")
    assert len(published) == 15_000
    assert n == distinct == len(published)
    assert set(ids) == set(published)
