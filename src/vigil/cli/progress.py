"""A progress bar for long commands: it appears only once the work has taken a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PROGRESS_AFTER_SECONDS = 1.0


@contextmanager
def progress(console: Console, what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar that appears only once the work has taken more than a second."""
    started = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None, "done": 0, "total": None}
    lock = threading.Lock()

    def show() -> None:
        with lock:
            if state["bar"] is None and console.is_terminal:
                bar = Progress(
                    TextColumn(what),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                )
                bar.start()
                state["bar"] = bar
                state["task"] = bar.add_task(what, total=state["total"], completed=state["done"])

    timer = threading.Timer(PROGRESS_AFTER_SECONDS, show)
    timer.daemon = True
    timer.start()

    def update(done: int, total: int) -> None:
        with lock:
            state["done"], state["total"] = done, total
            if state["bar"] is not None:
                state["bar"].update(state["task"], completed=done, total=total)
        if state["bar"] is None and time.monotonic() - started > PROGRESS_AFTER_SECONDS:
            show()

    try:
        yield update
    finally:
        timer.cancel()
        if state["bar"] is not None:
            state["bar"].stop()
