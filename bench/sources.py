"""Stream sources (issue 12): records/s a consumer stores from each broker, beside the raw rate.

For each broker (NATS JetStream, Redis Streams, RabbitMQ) and message format (JSON records,
Arrow IPC stream), N records are published as messages of 1,000 records (not timed), then
timed:
- `raw`: the same broker client (vigil's own adapter) fetching and acking every message,
  reading nothing: what the broker and client give at most;
- `vigil/duckdb`, `vigil/postgres`: vigil's consumer (decode, validate, one writer job per
  fetch, ack after commit) into a fresh DuckDB file / a fresh PostgreSQL schema, until the
  store took all N records.
And `http/<store>`: the same bodies POSTed one after another to vigil's HTTP ingest (the app
on a thread of this process, uvicorn, one client), for the same store.

Everything runs in this one process, one consumer at a time, on the same machine as the
brokers and the database. Prints a markdown table.

    .venv/bin/python bench/sources.py --records 1000000
    .venv/bin/python bench/sources.py --records 200000 --only nats --formats json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import uvicorn

from vigil.config import Limits, Settings
from vigil.deployment import build_monitor, register
from vigil.ingest.validate import TimeRules
from vigil.service.app import create_app
from vigil.service.writer import Writer
from vigil.sources.consumer import Consumer
from vigil.sources.consumer import Limits as SourceLimits
from vigil.sources.running import broker_for
from vigil.sources.settings import parse_sources
from vigil.spec import spec_from_dict
from vigil.store import open_store
from vigil.store.base import Store, utcnow

PER_MESSAGE = 1000
POSTGRES = os.environ.get("VIGIL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
URLS = {
    "nats": "nats://127.0.0.1:4222",
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F",
}
SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "age": {"role": "feature", "kind": "numeric"},
        "income": {"role": "feature", "kind": "numeric"},
        "city": {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
    },
}


def bodies(n: int, fmt: str) -> list[bytes]:
    """n records as messages of PER_MESSAGE records, JSON records or a flat Arrow stream."""
    rng = np.random.default_rng(7)
    now = time.time()
    out = []
    for start in range(0, n, PER_MESSAGE):
        size = min(PER_MESSAGE, n - start)
        proba = rng.random(size)
        ids = [f"r{i}" for i in range(start, start + size)]
        age, income = rng.normal(40, 10, size), rng.lognormal(10, 0.5, size)
        city = rng.choice(["a", "b", "c"], size)
        if fmt == "arrow":
            table = pa.table(
                {
                    "id": ids,
                    "timestamp": np.full(size, now),
                    "age": age,
                    "income": income,
                    "city": city,
                    "pred": np.where(proba > 0.5, "1", "0"),
                    "proba": proba,
                }
            )
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            out.append(sink.getvalue())
        else:
            records = [
                {
                    "id": ids[i],
                    "timestamp": now,
                    "features": {"age": age[i], "income": income[i], "city": city[i]},
                    "prediction": "1" if proba[i] > 0.5 else "0",
                    "score": proba[i],
                }
                for i in range(size)
            ]
            out.append(orjson.dumps({"records": records}, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


class Channel:
    """A fresh stream / queue on one broker, published to before the timing."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.name = f"VIGILBENCH_{uuid.uuid4().hex[:8]}"

    def source(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": "bench",
            "broker": self.broker,
            "url": URLS[self.broker],
            "consumer": self.name,
            "model": "bench",
            "batch": 20,
            "max_inflight": 100_000,
        }
        if self.broker in ("nats", "redis"):
            entry["stream"] = self.name
        if self.broker == "nats":
            entry["subject"] = f"bench.{self.name}"
        return entry

    def publish(self, messages: list[bytes]) -> None:
        if self.broker == "nats":
            asyncio.run(self._nats(messages))
        elif self.broker == "redis":
            import redis

            client = redis.Redis.from_url(URLS["redis"])
            for i in range(0, len(messages), 100):
                pipe = client.pipeline(transaction=False)
                for body in messages[i : i + 100]:
                    pipe.xadd(self.name, {"body": body})
                pipe.execute()
            client.close()
        else:
            import pika

            conn = pika.BlockingConnection(pika.URLParameters(URLS["rabbitmq"]))
            ch = conn.channel()
            ch.queue_declare(self.name, durable=True)
            ch.confirm_delivery()
            for body in messages:
                ch.basic_publish("", self.name, body, pika.BasicProperties(delivery_mode=2))
            conn.close()

    async def _nats(self, messages: list[bytes]) -> None:
        import nats

        nc = await nats.connect(URLS["nats"])
        js = nc.jetstream()
        await js.add_stream(name=self.name, subjects=[f"bench.{self.name}"], max_msg_size=2**23)
        for i in range(0, len(messages), 100):
            await asyncio.gather(
                *(js.publish(f"bench.{self.name}", b) for b in messages[i : i + 100])
            )
        await nc.close()

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            if self.broker == "nats":
                asyncio.run(self._delete_nats())
            elif self.broker == "redis":
                import redis

                redis.Redis.from_url(URLS["redis"]).delete(self.name)
            else:
                import pika

                conn = pika.BlockingConnection(pika.URLParameters(URLS["rabbitmq"]))
                conn.channel().queue_delete(self.name)
                conn.close()

    async def _delete_nats(self) -> None:
        import nats

        nc = await nats.connect(URLS["nats"])
        await nc.jetstream().delete_stream(self.name)
        await nc.close()


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """The URL of an empty store: a DuckDB file, or a new PostgreSQL schema, removed after."""
    if kind == "duckdb":
        with tempfile.TemporaryDirectory() as folder:
            yield str(Path(folder) / "bench.duckdb")
        return
    import psycopg

    schema = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def registered(url: str) -> Store:
    store = open_store(url)
    register(store, build_monitor(Settings(db=url), store), "bench", "1", spec_from_dict(SPEC))
    return store


def timed_raw(channel: Channel, n_messages: int) -> float:
    """Seconds for vigil's broker adapter to fetch and ack every message, reading nothing."""
    config = parse_sources([channel.source()])[0]
    broker = broker_for(config)
    broker.connect()
    got = 0
    started = time.perf_counter()
    while got < n_messages:
        messages = broker.fetch(config.batch, 1.0)
        broker.ack(messages)
        got += len(messages)
    elapsed = time.perf_counter() - started
    broker.close()
    return elapsed


def timed_vigil(channel: Channel, fmt: str, url: str, n: int) -> float:
    """Seconds for vigil's consumer to store all n records through the writer."""
    config = parse_sources([channel.source() | {"format": fmt}])[0]
    store = registered(url)
    writer = Writer(store, max_pending=200_000)
    writer.start()

    def rules() -> TimeRules:
        from datetime import timedelta

        return TimeRules(utcnow(), timedelta(days=30), timedelta(hours=1))

    limits = SourceLimits(64 * 2**20, 50, rules, lambda _: 3600)
    consumer = Consumer(config, broker_for(config), writer, store, limits)
    started = time.perf_counter()
    consumer.start()
    while consumer.stats.records["accepted"] + consumer.stats.records["duplicate"] < n:
        if consumer.stats.last_error and consumer.stats.retries > 20:
            raise RuntimeError(consumer.stats.last_error)
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    consumer.stop()
    writer.stop()
    store.close()
    return elapsed


def timed_http(messages: list[bytes], fmt: str, url: str) -> float:
    """Seconds to POST the bodies one after another to the app's ingest route."""
    settings = Settings(db=url, limits=Limits(max_pending_records=200_000))
    store = registered(url)
    app = create_app(settings, store=store, scheduler=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    kind = "application/json" if fmt == "json" else "application/vnd.apache.arrow.stream"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        started = time.perf_counter()
        for body in messages:
            r = client.post(
                "/v1/models/bench/predictions", content=body, headers={"content-type": kind}
            )
            r.raise_for_status()
        elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join(30)
    store.close()
    return elapsed


def run(case: str, fn: Callable[[], float], n: int, rows: list[tuple[str, float, float]]) -> None:
    seconds = fn()
    rows.append((case, seconds, n / seconds))
    print(f"{case:32s} {seconds:8.2f} s {n / seconds:12,.0f} records/s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", default=["nats", "redis", "rabbitmq"])
    parser.add_argument("--formats", nargs="*", default=["json", "arrow"])
    parser.add_argument("--stores", nargs="*", default=["duckdb", "postgres"])
    args = parser.parse_args()
    n = args.records
    rows: list[tuple[str, float, float]] = []
    for fmt in args.formats:
        messages = bodies(n, fmt)
        for broker in args.only:
            channel = Channel(broker)
            try:
                channel.publish(messages)
                raw = channel, len(messages)
                run(f"{broker} {fmt} raw", lambda: timed_raw(*raw), n, rows)  # noqa: B023
            finally:
                channel.delete()
            for kind in args.stores:
                channel = Channel(broker)
                try:
                    channel.publish(messages)
                    with fresh_store(kind) as url:
                        run(
                            f"{broker} {fmt} vigil/{kind}",
                            lambda: timed_vigil(channel, fmt, url, n),  # noqa: B023
                            n,
                            rows,
                        )
                finally:
                    channel.delete()
        for kind in args.stores:
            with fresh_store(kind) as url:
                run(f"http {fmt} {kind}", lambda: timed_http(messages, fmt, url), n, rows)  # noqa: B023
    print(f"\n{n:,} records in messages of {PER_MESSAGE:,}\n")
    print("| case | seconds | records/s |\n| --- | ---: | ---: |")
    for case, seconds, rate in rows:
        print(f"| {case} | {seconds:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
