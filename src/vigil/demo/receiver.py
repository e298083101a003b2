"""The demo's webhook receiver: where the service's notices and retrain requests land.

It stands in for a team's chat and an Airflow: a small HTTP server on 127.0.0.1 that keeps
every JSON body it is sent, by path (`/notify` for notices, `/retrain` for retrain requests),
and tells a callback as each arrives so the demo can print it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20  # a notice of a few alerts is a few kB; anything far larger is refused


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request the receiver accepted: its path and its JSON body."""

    path: str
    body: Any


class Receiver:
    """A webhook receiver on 127.0.0.1 (an ephemeral port), on a thread of its own."""

    def __init__(self, on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._on_delivery = on_delivery
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vigil-demo-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        """What arrived so far, oldest first (only at `path` when given)."""
        with self._lock:
            return [d for d in self._deliveries if path is None or d.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _accept(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
        if self._on_delivery is not None:
            self._on_delivery(delivery)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(413 if length > MAX_BODY else 400)
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400)
                return
            receiver._accept(Delivery(self.path, body))
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the demo prints what arrived; an access log would only interleave with it

    return Handler
