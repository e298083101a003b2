"""RabbitMQ: a durable queue consumed with a prefetch window, acked cumulatively.

The broker pushes at most `batch` unacked messages (prefetch_count), so what the consumer
holds is bounded by the broker itself; `basic_ack(multiple=True)` acks a stored batch. When
the connection goes, RabbitMQ puts the unacked messages back in the queue, redelivered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from vigil.sources.consumer import Message
from vigil.sources.settings import SourceConfig


class RabbitBroker:
    """A RabbitMQ queue as the consumer's Broker (pika's BlockingConnection)."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self._connection: Any = None
        self._channel: Any = None
        self._buffer: list[Message] = []

    def connect(self) -> None:
        """Connect, declare the queue durable (or use it as it is), start consuming."""
        import pika
        import pika.exceptions

        params = pika.URLParameters(self.config.url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        self._connection = pika.BlockingConnection(params)
        self._channel = self._connection.channel()
        try:
            self._channel.queue_declare(self.config.consumer, durable=True)
        except pika.exceptions.ChannelClosedByBroker:  # it exists with other arguments
            self._channel = self._connection.channel()
            self._channel.queue_declare(self.config.consumer, passive=True)
        self._channel.basic_qos(prefetch_count=self.config.batch)
        self._buffer = []
        self._channel.basic_consume(self.config.consumer, self._delivered)

    def _delivered(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        message_id = getattr(properties, "message_id", None)
        tag = method.delivery_tag
        self._buffer.append(
            Message(
                id=f"{self.config.consumer}:{message_id or tag}",
                body=body,
                redelivered=bool(method.redelivered),
                handle=tag,
            )
        )

    def fetch(self, limit: int, timeout: float) -> list[Message]:
        """What the broker pushed, waiting at most `timeout` seconds for the first."""
        deadline = time.monotonic() + timeout
        while len(self._buffer) < limit:
            before = len(self._buffer)
            remaining = deadline - time.monotonic()
            if not self._buffer and remaining <= 0:
                break
            self._connection.process_data_events(
                time_limit=0 if self._buffer else min(0.1, max(remaining, 0))
            )
            if self._buffer and len(self._buffer) == before:
                break
        out, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        """Ack up to the last message's delivery tag at once."""
        if messages:
            self._channel.basic_ack(max(m.handle for m in messages), multiple=True)

    def wait(self, seconds: float) -> None:
        """Serve heartbeats (and take deliveries, within the prefetch window) meanwhile."""
        self._connection.process_data_events(time_limit=seconds)

    def lag(self) -> int | None:
        """Messages ready in the queue."""
        declared = self._channel.queue_declare(self.config.consumer, passive=True)
        return int(declared.method.message_count)

    def close(self) -> None:
        """Close; RabbitMQ requeues what was not acked."""
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = self._channel = None
        self._buffer = []
