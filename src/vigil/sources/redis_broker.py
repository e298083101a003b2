"""Redis Streams: a consumer group, with the pending entries of dead consumers claimed back.

Each entry carries the message in its field `body`. This process reads as the consumer
`<host>-<pid>` of the group; entries another consumer took and never acked for
`redeliver_after` seconds (it died) are claimed with XAUTOCLAIM and stored again, which the
store's idempotence by id makes harmless.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from vigil.sources.consumer import Message
from vigil.sources.settings import SourceConfig

FIELD = b"body"


class RedisBroker:
    """A Redis stream read through a consumer group as the consumer's Broker."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self._client: Any = None
        self._claimed_at = 0.0
        self._cursor = "0-0"
        assert config.stream is not None
        self.stream = config.stream

    def connect(self) -> None:
        """Connect; create the group (from the stream's start) when it is missing."""
        import redis

        self._client = redis.Redis.from_url(
            self.config.url, socket_connect_timeout=5, socket_timeout=30
        )
        try:
            self._client.xgroup_create(self.stream, self.config.consumer, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def fetch(self, limit: int, timeout: float) -> list[Message]:
        """Entries dead consumers left (every redeliver_after / 2 s), else new ones."""
        now = time.monotonic()
        if now - self._claimed_at >= self.config.redeliver_after / 2:
            cursor, entries, *_ = self._client.xautoclaim(
                self.stream,
                self.config.consumer,
                self.name,
                min_idle_time=self.config.redeliver_after * 1000,
                start_id=self._cursor,
                count=limit,
            )
            self._cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            if self._cursor == "0-0":  # the whole pending list was walked
                self._claimed_at = now
            claimed = [e for e in entries if e is not None and e[1] is not None]
            if claimed:
                return [self._message(e, redelivered=True) for e in claimed]
        answer = self._client.xreadgroup(
            self.config.consumer,
            self.name,
            {self.stream: ">"},
            count=limit,
            block=max(1, int(timeout * 1000)),
        )
        if not answer:
            return []
        return [self._message(e, redelivered=False) for e in answer[0][1]]

    def _message(self, entry: Any, *, redelivered: bool) -> Message:
        entry_id, fields = entry
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        body = fields.get(FIELD)
        problem = None
        if body is None:
            names = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
            problem = f"the entry has no field 'body' (fields: {names}); put the message there"
            body = b""
        return Message(
            id=f"{self.stream}:{ident}",
            body=body,
            redelivered=redelivered,
            handle=ident,
            problem=problem,
        )

    def ack(self, messages: Sequence[Message]) -> None:
        """XACK the entries, in slices of 10,000."""
        ids = [m.handle for m in messages]
        for i in range(0, len(ids), 10_000):
            self._client.xack(self.stream, self.config.consumer, *ids[i : i + 10_000])

    def wait(self, seconds: float) -> None:
        """Nothing to keep alive: sleep."""
        time.sleep(seconds)

    def lag(self) -> int | None:
        """Entries the group has not read yet, as Redis 7 counts them (None when it cannot)."""
        for group in self._client.xinfo_groups(self.stream):
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.config.consumer:
                lag = group.get("lag")
                return None if lag is None else int(lag)
        return None

    def close(self) -> None:
        """Close the connection; what this consumer did not ack stays pending for a claim."""
        if self._client is not None:
            self._client.close()
            self._client = None
