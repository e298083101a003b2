"""The `vigil serve` process the demo starts, reached as any user reaches it: over HTTP.

It runs as a child process (`python -m vigil.cli serve --config ...`), so the demo exercises
the real service, and its window computations use the second core while the demo's own
process generates and sends the traffic. Its log goes to a file beside its store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from vigil.errors import VigilError

START_TIMEOUT = 60.0  # seconds; importing the web stack and opening the store take 2-3 s


class ServeProcess:
    """A running `vigil serve` with the given config; `stop` ends it the way Ctrl-C does."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        _check_free(port)
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", "serve", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # its own process group: a Ctrl-C in the terminal reaches the demo only, which
                # then stops the service in order (the replay's last requests done first)
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise VigilError(
                        f"vigil serve stopped at start (exit {self._process.returncode}): "
                        f"{self._last_log_line()}. Its log is {self.log}; if the port is in "
                        f"use, pass --port."
                    )
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise VigilError(
            f"vigil serve did not answer on {self.url} within {START_TIMEOUT:.0f} s; its log "
            f"is {self.log}."
        )

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def is_running(self) -> bool:
        return self._process.poll() is None

    def wait(self) -> int:
        """Wait for the process to end; its exit code."""
        return self._process.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT, as Ctrl-C: in-flight requests finish, the store is closed; then its exit
        code (killed if it has not ended within `timeout`)."""
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGINT)
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self._process.wait()


def _check_free(port: int) -> None:
    """Refuse a port something already listens on: the demo would otherwise wait for its own
    service and might talk to that one instead."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise VigilError(
                f"port {port} on 127.0.0.1 is in use (another vigil serve?); pass --port with a "
                f"free one."
            ) from None
