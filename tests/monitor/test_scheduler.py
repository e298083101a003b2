"""The scheduler over real stores (DuckDB and PostgreSQL): a window whose computation fails is
recorded with its reason and tried again on a backoff, not at every tick; the clock is the
Monitor's own, moved by the test, never the wall clock."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.store.conftest import postgres_url, store_url  # noqa: F401  (fixtures)

from vigil.ingest.layout import layout_for
from vigil.monitor.scheduler import Backoff, Monitor, SchedulerThread, TickSummary
from vigil.monitor.windows import WindowPlan
from vigil.spec import spec_from_dict
from vigil.store import SqlStore, open_store
from vigil.store.base import ModelInfo, WindowState

SPEC = {
    "version": 1,
    "task": "regression",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "yhat": {"role": "prediction", "kind": "numeric"},
        "y": {"role": "target", "kind": "numeric"},
    },
}
HOUR = datetime(2026, 11, 23, 10)
MINUTE = timedelta(minutes=1)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def good_reference(n: int = 500) -> bytes:
    rng = np.random.default_rng(1)
    return _parquet(
        pa.table({"x": rng.normal(0, 1, n), "yhat": rng.normal(0, 1, n), "y": rng.normal(0, 1, n)})
    )


def reference_without_x(n: int = 500) -> bytes:
    """A reference the spec cannot be evaluated against: it lacks the feature `x`."""
    rng = np.random.default_rng(1)
    return _parquet(pa.table({"yhat": rng.normal(0, 1, n), "y": rng.normal(0, 1, n)}))


def batch(n: int, start: datetime, *, prefix: str, version: str = "1") -> pa.Table:
    rng = np.random.default_rng(len(prefix) + n)
    return pa.table(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": pa.array(
                [start + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
                pa.timestamp("us"),
            ),
            "model_version": [version] * n,
            "latency_ms": rng.exponential(10, n),
            "error": pa.nulls(n, pa.string()),
            "x": rng.normal(0, 1, n),
            "yhat": rng.normal(0, 1, n),
        }
    )


@dataclass
class Clock:
    """The Monitor's clock, moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    store: SqlStore
    model: ModelInfo
    clock: Clock
    monitor: Monitor

    def write(self, n: int, start: datetime, *, prefix: str, version: str = "1") -> None:
        self.store.write_predictions(
            self.model, [batch(n, start, prefix=prefix, version=version)], [], window_seconds=3600
        )

    def state(self, start: datetime = HOUR, version: str = "1") -> WindowState:
        return next(
            s
            for s in self.store.window_states(self.model, dirty_only=False)
            if s.key.kind == "tumbling" and s.key.start == start and s.key.version == version
        )


@pytest.fixture
def setup(store_url: str) -> Iterator[Setup]:  # noqa: F811
    """A model whose version 1 has a reference it cannot be evaluated against."""
    store = open_store(store_url)
    spec = spec_from_dict(SPEC)
    layout = layout_for(spec)
    model = store.register_model("m", "1", spec.to_dict(), layout.stored(), "DOUBLE")
    store.put_reference(model, "1", reference_without_x(), 500)
    clock = Clock(HOUR + timedelta(hours=3))
    plan = WindowPlan(rolling_seconds=None, min_rows=10)
    try:
        yield Setup(store, model, clock, Monitor(store, {}, default_plan=plan, clock=clock))
    finally:
        store.close()


def _failed_runs(summaries: list[TickSummary]) -> int:
    return sum(len(s.failed) for s in summaries)


def test_the_backoff_starts_at_a_minute_doubles_and_stops_at_a_day() -> None:
    backoff = Backoff()
    delays = [backoff.delay(n) for n in (1, 2, 3, 11, 12, 10**6)]
    assert delays[:3] == [MINUTE, 2 * MINUTE, 4 * MINUTE]
    assert delays[3] == 1024 * MINUTE  # 17 h 4 min, the last doubling under a day
    assert delays[4:] == [timedelta(days=1), timedelta(days=1)]
    assert Backoff(first_seconds=10, max_seconds=30).delay(3) == timedelta(seconds=30)
    with pytest.raises(ValueError, match="first_seconds"):
        Backoff(first_seconds=0)
    with pytest.raises(ValueError, match="max_seconds"):
        Backoff(first_seconds=60, max_seconds=30)


def test_a_failing_window_runs_a_bounded_number_of_times_across_many_ticks(setup: Setup) -> None:
    setup.write(50, HOUR, prefix="a")
    summaries = []
    for _ in range(300):  # five hours of ticks, one a minute
        summaries.append(setup.monitor.tick())
        setup.clock.now += MINUTE
    # tried at minutes 0, 1, 3, 7, 15, 31, 63, 127 and 255: each wait twice the one before
    assert _failed_runs(summaries) == 9
    state = setup.state()
    assert state.failures == 9
    assert state.last_error is not None and "'x'" in state.last_error
    assert state.retry_at == HOUR + timedelta(hours=3) + 255 * MINUTE + 256 * MINUTE
    first = summaries[0]
    assert first.computed == [] and len(first.failed) == 1
    line = first.failed[0]
    assert line.startswith("m 1 tumbling 2026-11-23T10:00: ") and "'x'" in line
    assert "failure 1 in a row" in line and "next try after 2026-11-23T13:01:00Z" in line
    waiting = "failed before: waits for its retry time, new rows or labels, or a retry"
    assert summaries[2].skipped == {waiting: 1}  # minute 2: the retry is due at minute 3


def test_new_rows_for_a_failed_window_retry_it_at_once(setup: Setup) -> None:
    setup.write(50, HOUR, prefix="a")
    assert len(setup.monitor.tick().failed) == 1
    assert setup.monitor.tick().failed == []  # the clock has not moved
    setup.write(5, HOUR, prefix="b")
    assert len(setup.monitor.tick().failed) == 1
    assert setup.state().failures == 2
    assert setup.monitor.tick().failed == []


def test_an_explicit_retry_or_a_backfill_retries_before_the_retry_time(setup: Setup) -> None:
    setup.write(50, HOUR, prefix="a")
    setup.monitor.tick()
    assert setup.monitor.tick().failed == []
    assert len(setup.monitor.tick(retry_failed=True).failed) == 1
    assert setup.state().failures == 2
    backfilled = setup.monitor.backfill(setup.model, HOUR, HOUR + timedelta(hours=1))
    assert len(backfilled.failed) == 1
    assert setup.state().failures == 3


def test_a_success_clears_the_failure(setup: Setup) -> None:
    setup.write(50, HOUR, prefix="a")
    setup.monitor.tick()
    assert setup.state().failures == 1
    # a new reference is a new generation of every window of the version: retried at once
    setup.store.put_reference(setup.model, "1", good_reference(), 500)
    setup.monitor.forget(setup.model)
    summary = setup.monitor.tick()
    assert summary.failed == [] and [r.rows for r in summary.computed] == [50]
    state = setup.state()
    assert (state.failures, state.last_error, state.retry_at, state.is_dirty) == (
        0,
        None,
        None,
        False,
    )
    assert setup.store.count_failed_windows(setup.model) == 0


def test_a_failing_window_does_not_keep_the_others_from_being_computed(setup: Setup) -> None:
    spec = spec_from_dict(SPEC)
    layout = layout_for(spec)
    setup.model = setup.store.register_model("m", "2", spec.to_dict(), layout.stored(), "DOUBLE")
    setup.store.put_reference(setup.model, "2", good_reference(), 500)
    setup.write(50, HOUR, prefix="a", version="1")
    setup.write(60, HOUR, prefix="b", version="2")
    summary = setup.monitor.tick()
    assert [(r.key.version, r.rows) for r in summary.computed] == [("2", 60)]
    assert len(summary.failed) == 1 and summary.failed[0].startswith("m 1 tumbling")
    assert setup.store.count_failed_windows(setup.model) == 1


def test_the_rolling_window_is_reported_with_the_span_it_covers(setup: Setup) -> None:
    setup.store.put_reference(setup.model, "1", good_reference(), 500)
    plan = WindowPlan(rolling_seconds=86400, min_rows=10)
    monitor = Monitor(setup.store, {}, default_plan=plan, clock=setup.clock)
    setup.write(50, HOUR, prefix="a")
    (rolling,) = [r for r in monitor.tick().computed if r.key.kind == "rolling"]
    now = setup.clock.now
    assert (rolling.key.start, rolling.key.end) == (now - timedelta(days=1), now)
    # the store still knows it under its one key, and recomputes it in place
    setup.clock.now += MINUTE
    setup.write(5, HOUR, prefix="b")
    (again,) = [r for r in monitor.tick().computed if r.key.kind == "rolling"]
    assert again.key.end == now + MINUTE and again.rows == 55
    kinds = [s.key.kind for s in setup.store.window_states(setup.model, dirty_only=False)]
    assert kinds.count("rolling") == 1


def test_a_failing_rolling_window_says_which_span_failed(setup: Setup) -> None:
    plan = WindowPlan(rolling_seconds=86400, min_rows=10)
    monitor = Monitor(setup.store, {}, default_plan=plan, clock=setup.clock)
    setup.write(50, HOUR, prefix="a")
    lines = monitor.tick().failed
    rolling = [line for line in lines if " rolling " in line]
    assert rolling and rolling[0].startswith("m 1 rolling 2026-11-22T13:00: ")


@pytest.mark.parametrize("evaluate_after", [None, 3600.0])
def test_the_scheduler_thread_stops_while_its_next_tick_is_an_hour_away(
    setup: Setup, evaluate_after: float | None
) -> None:
    """Failed before (without evaluate_after): `stop` set only the stop flag while the thread
    slept until its next tick, an hour off, so every `vigil serve` with the scheduler took the
    join's whole timeout to shut down. With evaluate_after, a nudge's wait is cut short too."""
    scheduler = SchedulerThread(setup.monitor, 3600.0, evaluate_after=evaluate_after)
    scheduler.start()
    scheduler.nudge()  # with evaluate_after set, the thread now waits for that instead
    scheduler.stop(timeout=30)
    assert not scheduler._thread.is_alive(), "the thread still sleeps towards its next tick"
    assert scheduler.last_tick is None  # stopping is not a tick
