"""`vigil serve --workers N`: one listening socket, N worker processes serving it, and the
parent that supervises them (PostgreSQL stores only; docs/scaling.md).

The parent binds the port (SO_REUSEADDR) and starts each worker with multiprocessing's
*spawn*: a fresh interpreter, so no thread, lock or database connection of the parent is
copied, as a fork after NumPy's and psycopg's imports could. The socket reaches the worker as
an inherited descriptor. Each worker opens its own store and runs the whole app on the shared
socket, as one `vigil serve` does: its own writer thread, scheduler thread and outbox thread,
and `server.py`'s guarded protocol (read deadlines, the connection cap — per worker). The
kernel hands each new connection to one worker. The store's leases on windows, the lock on a
model's row for alerts and `SKIP LOCKED` on the outbox let workers share one PostgreSQL
database as separate instances do; each response carries `x-vigil-worker: <n>`.

/metrics answers for all workers: the parent gives them a fresh folder for prometheus_client's
multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`), removed when it stops, so the service's
counters are summed over the workers whichever one answers (`vigil.service.counters`); a
worker that exits has its live gauge values dropped, its counts kept.

A worker that exits without being asked to is started again after a back-off: 1 s, doubled
for each further quick exit in a row, at most 30 s; a worker that ran a minute starts again
after 1 s. Each start and exit is one line of the parent's output. On SIGTERM or SIGINT the
parent sends SIGTERM to every worker; each stops as a single `vigil serve` does (stops
accepting, gives in-flight requests `limits.shutdown_timeout`, drains its writer, closes its
store). A worker that has not stopped `STOP_MARGIN` seconds after that is killed. A worker
whose parent is gone (kill -9) stops the same way on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

from vigil.config import Settings
from vigil.errors import VigilError
from vigil.service.counters import MULTIPROCESS_DIR

FIRST_DELAY = 1.0  # seconds before a worker that exited is started again
MAX_DELAY = 30.0
STEADY = 60.0  # a worker that ran this long before exiting restarts after FIRST_DELAY
STOP_MARGIN = 30.0  # beyond limits.shutdown_timeout: the writer's drain and the store's close
BACKLOG = 2048
WORKER_HEADER = b"x-vigil-worker"

Note = Callable[[str], None]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a VigilError that says what to do."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise VigilError(f"cannot listen on {host}:{port}: {err}; check --host.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise VigilError(
            f"cannot listen on {host}:{port}: {err.strerror}; stop what holds the port or "
            f"choose another --port."
        ) from None
    return sock


def tagged(app: Any, index: int) -> Any:
    """The ASGI app with `x-vigil-worker: <index>` on every answer it starts."""
    header = (WORKER_HEADER, str(index).encode())

    async def tagged_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await app(scope, receive, send_tagged)

    return tagged_app


def serve_worker(settings: Settings, sock: socket.socket, index: int) -> None:
    """One worker process: the app on the parent's socket until SIGTERM or SIGINT, or until
    the parent is gone."""
    from vigil.service.app import create_app
    from vigil.service.server import server_for
    from vigil.store import open_store

    try:
        store = open_store(settings.db)
    except VigilError as err:
        print(f"worker {index}: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        app = create_app(settings, store=store, load_models=False)
        server = server_for(
            tagged(app, index), host=settings.host, port=settings.port, limits=settings.limits
        )
        watch = threading.Thread(
            target=_stop_with_parent, args=(server,), name="vigil-parent-watch", daemon=True
        )
        watch.start()
        server.run(sockets=[sock])
    finally:
        store.close()


def _stop_with_parent(server: Any) -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    wait([parent.sentinel])
    server.should_exit = True  # as on SIGTERM: in-flight requests finish, the writer drains


@dataclass
class _Slot:
    """One worker's place: its process, when it started, its next back-off."""

    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY
    due: float | None = None  # when a restart is due


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


class Supervisor:
    """N worker processes on one socket, restarted when they exit, stopped on a signal."""

    def __init__(self, settings: Settings, sock: socket.socket, *, note: Note) -> None:
        self.settings = settings
        self.sock = sock
        self.note = note
        self.slots = [_Slot(i) for i in range(1, settings.workers + 1)]
        self._context = multiprocessing.get_context("spawn")
        self._signals: list[int] = []
        self.metrics_dir = ""  # made by `run`

    def _start(self, slot: _Slot) -> None:
        process = self._context.Process(
            target=serve_worker,
            args=(self.settings, self.sock, slot.index),
            name=f"vigil-worker-{slot.index}",
        )
        # A worker starts with SIGINT ignored (an ignored signal stays ignored across exec):
        # a terminal's Ctrl-C reaches the whole process group, and a worker still importing
        # would die of it with a traceback. The parent's SIGTERM stops it instead; once it
        # serves, uvicorn's handlers take SIGINT and SIGTERM alike.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, self._on_signal)
        slot.process, slot.started, slot.due = process, time.monotonic(), None
        self.note(f"worker {slot.index} started (pid {process.pid})")

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 when every worker then stopped by itself."""
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        previous_fd = signal.set_wakeup_fd(wake_write.fileno())
        # the workers' metric files: a fresh folder each run (old files would be summed in)
        self.metrics_dir = tempfile.mkdtemp(prefix="vigil-metrics-")
        previous_dir = os.environ.get(MULTIPROCESS_DIR)
        os.environ[MULTIPROCESS_DIR] = self.metrics_dir  # spawned workers inherit it
        try:
            for slot in self.slots:
                if not self._signals:
                    self._start(slot)
            while not self._signals:
                self._watch(wake_read)
            return self._stop_all()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in original.items():
                signal.signal(sig, handler)
            wake_read.close()
            wake_write.close()
            if previous_dir is None:
                os.environ.pop(MULTIPROCESS_DIR, None)
            else:
                os.environ[MULTIPROCESS_DIR] = previous_dir
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _watch(self, wake: socket.socket) -> None:
        dues = [s.due for s in self.slots if s.due is not None]
        timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
        running = [s.process.sentinel for s in self.slots if s.process is not None]
        wait([wake, *running], timeout)
        with contextlib.suppress(BlockingIOError):
            while wake.recv(512):
                pass
        if self._signals:
            return
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and process.exitcode is not None:
                lived = now - slot.started
                if lived >= STEADY:
                    slot.delay = FIRST_DELAY
                self.note(
                    f"worker {slot.index} (pid {process.pid}) exited with "
                    f"{_exit_text(process.exitcode)} after {lived:.0f} s; starting it again "
                    f"in {slot.delay:g} s"
                )
                # its live gauges go, its counts stay
                mark_process_dead(process.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
                process.close()
                slot.process, slot.due = None, now + slot.delay
                slot.delay = min(slot.delay * 2, MAX_DELAY)
            elif process is None and slot.due is not None and slot.due <= now:
                self._start(slot)

    def _stop_all(self) -> int:
        running = [s for s in self.slots if s.process is not None and s.process.is_alive()]
        self.note(f"stopping {len(running)} worker(s)")
        for slot in running:
            pid = slot.process.pid if slot.process is not None else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.limits.shutdown_timeout + STOP_MARGIN
        code = 0
        for slot in self.slots:
            process = slot.process
            if process is None:
                continue
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                self.note(f"worker {slot.index} (pid {process.pid}) did not stop; killing it")
                process.kill()
                process.join()
                code = 3
            elif process.exitcode not in (0, -signal.SIGTERM):  # -SIGTERM: stopped while starting
                self.note(
                    f"worker {slot.index} (pid {process.pid}) stopped with "
                    f"{_exit_text(process.exitcode)}"
                )
                code = 3
        return code
