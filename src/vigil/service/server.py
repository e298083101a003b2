"""How `vigil serve` runs the app: uvicorn's HTTP/1.1 (h11) protocol with read deadlines and
a connection cap, and a server that stops on SIGTERM as it does on SIGINT.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but not the time a
client takes to send a request's headers or body, so a client trickling a byte at a time
holds a connection for ever (slowloris). Here each connection gets two deadlines:

- `limits.header_timeout`: from the first byte of a request to the end of its headers;
  past it the answer is 408 and the connection is closed;
- `limits.body_timeout`: from the end of the headers to the end of the body; past it, 408
  (unless an answer has started) and the connection is closed. The app's read of the body
  then ends as a disconnect.

Past `limits.max_connections` open connections a new one is answered 503 with Retry-After
and closed at once, before any of its bytes are read.

uvicorn re-raises the signal that stopped it once it has shut down, which kills the process
(exit -15 on SIGTERM) before the caller can close its store. `VigilServer` does not: after
a signal it stops accepting, lets in-flight requests finish for up to
`limits.shutdown_timeout` seconds (then cancels them), runs the app's shutdown (the writer
drains), and returns; `vigil serve` then closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from vigil.config import Limits


def raw_answer(status: int, reason: str, message: str, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, body as the API's errors are."""
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += [f"content-length: {len(body)}", "connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + body


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the header and body deadlines and the connection cap."""
    retry = str(limits.retry_after)
    busy = raw_answer(
        503,
        "Service Unavailable",
        f"the server holds its limit of {limits.max_connections} connections "
        f"(limits.max_connections); retry after {retry} s.",
        {"retry-after": retry},
    )
    slow_headers = raw_answer(
        408,
        "Request Timeout",
        f"the request's headers did not arrive within {limits.header_timeout} s "
        f"(limits.header_timeout).",
        {},
    )
    slow_body = raw_answer(
        408,
        "Request Timeout",
        f"the request's body did not arrive within {limits.body_timeout} s "
        f"(limits.body_timeout); send it faster or in smaller batches.",
        {},
    )

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _timed_cycle: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.write(busy)
                transport.close()
                return
            self._start_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timers()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            idle = self.cycle is None or self.cycle.response_complete
            if idle and self._header_timer is None and self._body_timer is None:
                self._start_header_timer()  # the first byte of the next request
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and cycle is not self._timed_cycle:  # headers complete
                self._timed_cycle = cycle
                self._cancel_timers()
                if cycle.more_body:
                    self._body_timer = self.loop.call_later(limits.body_timeout, self._body_late)
            elif cycle is not None and not cycle.more_body and self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def on_response_complete(self) -> None:
            if self.cycle is not None and not self.cycle.more_body and self._body_timer:
                self._body_timer.cancel()
                self._body_timer = None
            super().on_response_complete()

        def _start_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_late)

        def _cancel_timers(self) -> None:
            for timer in (self._header_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            self._header_timer = self._body_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(slow_headers)
                self.transport.close()

        def _body_late(self) -> None:
            self._body_timer = None
            cycle = self.cycle
            if cycle is None or not cycle.more_body or self.transport.is_closing():
                return
            if not cycle.response_started:
                self.transport.write(slow_body)
            self.transport.close()

    return GuardedH11Protocol


class VigilServer(uvicorn.Server):
    """uvicorn's server, stopping the same way on SIGINT and SIGTERM and not re-raising."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def server_for(app: Any, *, host: str, port: int, limits: Limits) -> VigilServer:
    """The server `vigil serve` runs (also used by tests that serve on a thread)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=guarded_protocol(limits),
        timeout_graceful_shutdown=limits.shutdown_timeout,
    )
    return VigilServer(config)
