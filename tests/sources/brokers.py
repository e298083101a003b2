"""The three real brokers of this machine, as the tests publish to and inspect them.

Every test makes its own stream / queue / group names (a random suffix) and deletes them after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NATS_URL = "nats://127.0.0.1:4222"
REDIS_URL = "redis://127.0.0.1:6379/0"
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
BROKERS = ("nats", "redis", "rabbitmq")


@dataclass
class Channel:
    """Where one test publishes: the broker, its names, and the source entry that reads it."""

    broker: str
    suffix: str

    @property
    def stream(self) -> str:
        return f"VIGILTEST_{self.suffix}"

    @property
    def subject(self) -> str:
        return f"vigiltest.{self.suffix}"

    @property
    def consumer(self) -> str:
        return f"vigil-{self.suffix}"

    def source(self, **changes: Any) -> dict[str, Any]:
        """The `sources:` entry for this channel."""
        entry: dict[str, Any] = {"name": f"src-{self.broker}", "broker": self.broker}
        if self.broker == "nats":
            entry |= {"url": NATS_URL, "stream": self.stream, "subject": self.subject}
        elif self.broker == "redis":
            entry |= {"url": REDIS_URL, "stream": self.stream}
        else:
            entry |= {"url": RABBIT_URL}
        entry |= {"consumer": self.consumer, "model": "credit", "redeliver_after": 2}
        if self.broker == "rabbitmq":
            entry.pop("redeliver_after")
        return entry | changes

    def create(self) -> None:
        """The stream or queue the publisher owns."""
        if self.broker == "nats":
            asyncio.run(_nats_create(self.stream, self.subject))
        elif self.broker == "rabbitmq":
            with _rabbit() as ch:
                ch.queue_declare(self.consumer, durable=True)

    def publish(self, bodies: Sequence[bytes]) -> None:
        """Publish the messages, confirmed by the broker."""
        if self.broker == "nats":
            asyncio.run(_nats_publish(self.subject, bodies))
        elif self.broker == "redis":
            client = _redis()
            pipe = client.pipeline(transaction=False)
            for body in bodies:
                pipe.xadd(self.stream, {"body": body})
            pipe.execute()
            client.close()
        else:
            import pika

            with _rabbit() as ch:
                ch.confirm_delivery()
                for body in bodies:
                    ch.basic_publish("", self.consumer, body, pika.BasicProperties(delivery_mode=2))

    def publish_raw(self, fields: dict[bytes, bytes]) -> None:
        """Redis only: an entry with other fields than `body`."""
        client = _redis()
        client.xadd(self.stream, fields)
        client.close()

    def outstanding(self) -> int:
        """Messages not yet acknowledged by the consumer: unread plus delivered-not-acked."""
        if self.broker == "nats":
            return asyncio.run(_nats_outstanding(self.stream, self.consumer))
        if self.broker == "redis":
            client = _redis()
            try:
                groups = {g["name"].decode(): g for g in client.xinfo_groups(self.stream)}
                group = groups.get(self.consumer)
                if group is None:
                    return int(client.xlen(self.stream))
                return int(group["pending"]) + int(group["lag"] or 0)
            finally:
                client.close()
        with _rabbit() as ch:
            declared = ch.queue_declare(self.consumer, passive=True)
            return int(declared.method.message_count)  # ready; unacked come back on close

    def delete(self) -> None:
        """Remove what the test made."""
        if self.broker == "nats":
            asyncio.run(_nats_delete(self.stream))
        elif self.broker == "redis":
            client = _redis()
            client.delete(self.stream)
            client.close()
        else:
            with _rabbit() as ch:
                ch.queue_delete(self.consumer)


def new_channel(broker: str) -> Channel:
    channel = Channel(broker, uuid.uuid4().hex[:10])
    channel.create()
    return channel


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


class _rabbit:
    def __enter__(self) -> Any:
        import pika

        self.conn = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
        return self.conn.channel()

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


async def _nats_create(stream: str, subject: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    await nc.jetstream().add_stream(name=stream, subjects=[subject], max_msg_size=8 * 2**20)
    await nc.close()


async def _nats_publish(subject: str, bodies: Sequence[bytes]) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for i in range(0, len(bodies), 200):
        await asyncio.gather(*(js.publish(subject, b) for b in bodies[i : i + 200]))
    await nc.close()


async def _nats_outstanding(stream: str, consumer: str) -> int:
    import nats
    import nats.js.errors

    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(stream, consumer)
    except nats.js.errors.NotFoundError:
        info = None
        total = (await nc.jetstream().stream_info(stream)).state.messages
    await nc.close()
    if info is None:
        return int(total)
    return int(info.num_pending + info.num_ack_pending)


async def _nats_delete(stream: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()
