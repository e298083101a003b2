"""A service with broker sources, in a thread of the test process, over a real DuckDB file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
from tests.service.conftest import Live, ThreadServer

from vigil.config import Limits, Settings
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app
from vigil.sources.settings import parse_sources
from vigil.store import Store


@dataclass
class Running:
    live: Live
    app: Any

    @property
    def consumer(self) -> Any:
        return self.app.state.sources.consumers[0]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serving(
    tmp_path: Path, source: dict[str, Any], *, store: Store | None = None, **limits: Any
) -> Iterator[Running]:
    """The service consuming `source`, the credit model registered over HTTP."""
    settings = Settings(
        db=str(tmp_path / "vigil.duckdb"),
        limits=Limits(**limits),
        windows=WindowPlan(min_rows=10),
        sources=parse_sources([source]),
    )
    app = create_app(settings, store=store, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, Path(settings.db), app)
        live.setup_model()
        yield Running(live, app)


def stored(db: Path) -> tuple[int, int, list[str]]:
    """count(*), count(distinct id) and the ids of the credit model's predictions."""
    with duckdb.connect(str(db), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM p_1").fetchall()]
    return len(ids), len(set(ids)), ids


def quarantine(db: Path) -> list[tuple[str | None, str, str]]:
    """(record_id, errors, payload) of the quarantine."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT record_id, errors, payload FROM quarantine").fetchall()
    return [(r[0], r[1], r[2]) for r in rows]
