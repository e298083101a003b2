"""NATS JetStream: a durable pull consumer on a stream, driven from the consumer's thread.

nats-py is asyncio only, so the broker keeps an event loop of its own and runs each call to
completion on the consumer's thread. A message not acked within `redeliver_after` seconds is
delivered again (JetStream's ack_wait), to this or another vigil.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from vigil.sources.consumer import Message
from vigil.sources.settings import SourceConfig


class NatsBroker:
    """A JetStream pull subscription as the consumer's Broker."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: Any = None
        self._sub: Any = None

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coro)

    def connect(self) -> None:
        """Connect and bind (or create) the durable consumer on the stream."""
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig

        self._loop = asyncio.new_event_loop()
        self._nc = self._run(
            nats.connect(
                self.config.url,
                allow_reconnect=False,  # the consumer reconnects, redelivery covers the gap
                connect_timeout=5,
                max_reconnect_attempts=0,
            )
        )
        js = self._nc.jetstream()
        self._sub = self._run(
            js.pull_subscribe(
                self.config.subject,
                durable=self.config.consumer,
                stream=self.config.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=float(self.config.redeliver_after),
                    max_ack_pending=max(1000, 2 * self.config.batch),
                ),
            )
        )

    def fetch(self, limit: int, timeout: float) -> list[Message]:
        """Up to `limit` messages, waiting at most `timeout` seconds for the first."""
        import nats.errors

        try:
            msgs = self._run(self._sub.fetch(limit, timeout=timeout))
        except (nats.errors.TimeoutError, TimeoutError):  # a short wait may end in either
            return []
        out = []
        for msg in msgs:
            meta = msg.metadata
            out.append(
                Message(
                    id=f"{meta.stream}:{meta.sequence.stream}",
                    body=msg.data,
                    redelivered=meta.num_delivered > 1,
                    handle=msg,
                )
            )
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge each message, then flush so the acks reach the server."""

        async def ack_all() -> None:
            for m in messages:
                await m.handle.ack()
            await self._nc.flush()

        self._run(ack_all())

    def wait(self, seconds: float) -> None:
        """Let the client answer the server's pings meanwhile."""
        self._run(asyncio.sleep(seconds))

    def lag(self) -> int | None:
        """Messages of the stream not yet delivered to the consumer."""
        info = self._run(self._sub.consumer_info())
        return int(info.num_pending)

    def close(self) -> None:
        """Close the connection and the loop; unacked messages are redelivered."""
        if self._loop is None:
            return
        try:
            if self._nc is not None and not self._nc.is_closed:
                self._run(self._nc.close())
        finally:
            self._loop.close()
            self._loop = None
            self._nc = self._sub = None
