"""The scheduler: compute every window that has news, once, wherever vigil runs.

A tick looks at the windows the store marked dirty (new rows or new labels since they were last
computed), claims them with a lease — so that two `vigil serve` instances on one PostgreSQL
compute a window once — evaluates them and stores their reports and metric points, a batch of
windows (`BATCH`) to a claim and to a transaction. An open window is evaluated once it holds
the plan's minimum of rows, so a change shows before it closes. A window that only received
labels since this process computed it is brought up to date from the reports it gave then
(`vigil.monitor.kept`, `vigil.late_labels`): the same reports, re-measuring only what labels
change.

Hooks let the layers above act on what a tick did, without the monitor knowing them:
`before_tick` runs first in each tick (the stream detectors, vigil.monitor.streams),
`extra_points` adds points to each computed window before it is stored (the SLAs'),
`after_batch` hears of each stored batch (the alert rules), `after_tick` of each tick's end
(rules on the scheduler's clock, scheduled actions). A tick `nudged` by new rows (the service
calls `SchedulerThread.nudge` after a commit) recomputes an open window only once it grew by
`NUDGE_GROWTH` since its last computation, so a busy window is not recomputed for every batch.

A window whose computation raises is recorded as failed, with its reason, and is not tried
again before a retry time that backs off (`Backoff`: a minute, doubling, at most a day apart),
unless news arrives for it (rows, labels, a new reference, a backfill) or a tick is asked to
retry failures; so a window that cannot be computed costs a handful of attempts a day, not one
every tick. The next success clears the failure.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pyarrow as pa
from threadpoolctl import threadpool_limits

from vigil.errors import VigilError
from vigil.monitor.history import History
from vigil.monitor.kept import KEPT_REPORTS, KeptReports
from vigil.monitor.points import changed_points
from vigil.monitor.references import (
    REFERENCE_VERSIONS_KEPT,
    PreparedVersion,
    ReferenceCache,
    read_reference,
)
from vigil.monitor.windows import WindowPlan, WindowResult, compute_window, report_json
from vigil.spec import Spec, spec_from_dict
from vigil.store.base import (
    FinishedWindow,
    MetricPoint,
    ModelInfo,
    Store,
    WindowKey,
    WindowState,
    utcnow,
)

log = logging.getLogger("vigil.monitor")

WAITING = "failed before: waits for its retry time, new rows or labels, or a retry"
# windows claimed together and stored in one transaction (each statement and commit costs a few
# ms on DuckDB, about what a window brought up to date by its labels costs); a batch holds its
# leases while it is computed: 64 windows at a second each stay well under `lease_seconds`
BATCH = 64
NUDGE_GROWTH = 1.1  # a nudged tick recomputes an open window once it holds 10% more rows
ExtraPoints = Callable[[ModelInfo, list[MetricPoint]], list[MetricPoint]]
AfterBatch = Callable[[ModelInfo, list[WindowResult], datetime], None]
AfterTick = Callable[[datetime], None]
BeforeTick = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failed window waits before it is tried again: `first_seconds` after its
    first failure, twice as long after each further one in a row, never more than
    `max_seconds`. The defaults (1 min, 1 day) match the default `interval` of 60 s: a window
    that keeps failing is tried 11 times in its first day, then once a day."""

    first_seconds: float = 60.0
    max_seconds: float = 86400.0

    def __post_init__(self) -> None:
        if not self.first_seconds > 0:
            raise ValueError(
                f"Backoff.first_seconds must be > 0; got {self.first_seconds}. "
                f"Give the wait after a first failure in seconds."
            )
        if not self.max_seconds >= self.first_seconds:
            raise ValueError(
                f"Backoff.max_seconds must be >= first_seconds ({self.first_seconds}); "
                f"got {self.max_seconds}."
            )

    def delay(self, failures: int) -> timedelta:
        """The wait after the `failures`-th failure in a row (1 for the first)."""
        doublings = min(max(failures - 1, 0), 64)  # past 64 the cap has long applied
        return timedelta(seconds=min(self.first_seconds * 2.0**doublings, self.max_seconds))


DEFAULT_BACKOFF = Backoff()


@dataclass(slots=True)
class TickSummary:
    """What one tick did."""

    # each key spans the time judged: the rolling window's is not its stored key (fixed start)
    computed: list[WindowResult] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> windows
    # one line per window that raised: which, why, how many times in a row, when next tried
    failed: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        """Count a window left for later, by reason."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class Monitor:
    """Computes due windows of every model; one per process, used by serve, run and backfill."""

    def __init__(
        self,
        store: Store,
        plans: Mapping[str, WindowPlan],
        *,
        default_plan: WindowPlan,
        lease_seconds: float = 600.0,
        retention_seconds: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        backoff: Backoff = DEFAULT_BACKOFF,
        reference_versions: int = REFERENCE_VERSIONS_KEPT,
        kept_reports: int = KEPT_REPORTS,
        batch: int = BATCH,
        extra_points: ExtraPoints | None = None,
        after_batch: AfterBatch | None = None,
        after_tick: AfterTick | None = None,
        before_tick: BeforeTick | None = None,
    ) -> None:
        self.store = store
        self.before_tick = before_tick
        self.extra_points = extra_points
        self.after_batch = after_batch
        self.after_tick = after_tick
        self.plans = dict(plans)
        self.default_plan = default_plan
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.backoff = backoff
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # prepared references of the last `reference_versions` versions used (LRU)
        self.references = ReferenceCache(reference_versions)
        # the reports of the last windows computed, for their late labels
        self.kept = KeptReports(kept_reports)
        self.batch = batch  # windows claimed and stored together
        self._specs: dict[tuple[int, str], Spec] = {}
        self._lock = threading.Lock()  # one tick at a time in a process

    def plan_for(self, model: str) -> WindowPlan:
        """The window plan of a model: its own, or the default one."""
        return self.plans.get(model, self.default_plan)

    def span(self, model: str, key: WindowKey, *, end: datetime | None = None) -> WindowKey:
        """The window as the time it covers: a tumbling window is its key; the rolling one
        (stored under a fixed start) spans the plan's `rolling` up to `end`, or to the key's
        end (the time it was last due)."""
        if key.kind == "tumbling":
            return key
        end = key.end if end is None else end
        rolling = self.plan_for(model).rolling_seconds
        start = end - timedelta(seconds=rolling) if rolling is not None else key.start
        return WindowKey(key.version, key.kind, start, end)

    def tick(
        self,
        *,
        models: list[str] | None = None,
        retry_failed: bool = False,
        nudged: bool = False,
    ) -> TickSummary:
        """Compute the windows that are due now; returns what was done.

        A window that failed before waits for its retry time unless `retry_failed`. A
        `nudged` tick (new rows, not the clock) skips open windows that grew by less than
        `NUDGE_GROWTH` and does not run `after_tick`.
        """
        summary = TickSummary()
        # Windows are small and `evaluate` already measures columns on a thread pool: a
        # multi-threaded BLAS under it (numpy's dot products) only wakes threads that fight
        # the pool for the cores — 7x slower per window on 2 busy cores (bench/RESULTS.md).
        with self._lock, threadpool_limits(limits=1, user_api="blas"):
            if self.before_tick is not None:
                try:  # the stream detectors: their detections go with this tick's windows
                    self.before_tick()
                except Exception:  # they must not stop the windows' computation
                    log.exception("before the tick")
            for model in self.store.list_models():
                if models is not None and model.name not in models:
                    continue
                self._tick_model(model, summary, retry_failed=retry_failed, nudged=nudged)
        if self.after_tick is not None and not nudged:
            try:
                self.after_tick(self.clock())
            except Exception:  # what acts on a tick must not stop the windows' computation
                log.exception("after the tick")
        return summary

    def _tick_model(
        self, model: ModelInfo, summary: TickSummary, *, retry_failed: bool, nudged: bool
    ) -> None:
        plan = self.plan_for(model.name)
        now = self.clock()
        if self.retention_seconds is not None:
            self.store.drop_predictions_before(
                model, now - timedelta(seconds=self.retention_seconds)
            )
        references = self.store.reference_versions(model)
        due: list[WindowState] = []
        for state in self.store.window_states(model, dirty_only=True):
            key = state.key
            if key.version not in references:
                summary.skip("no reference for the version")
                continue
            if key.kind == "rolling" and plan.rolling_seconds is None:
                continue
            if not retry_failed and state.retry_at is not None and state.retry_at > now:
                summary.skip(WAITING)
                continue
            if (
                key.kind == "tumbling"
                and key.end > now
                and not self._open_is_due(model, state, plan, nudged=nudged)
            ):
                summary.skip("open window below min_rows")
                continue
            due.append(state)
        for first in range(0, len(due), self.batch):
            self._compute_batch(
                model, due[first : first + self.batch], references, plan, now, summary, retry_failed
            )

    def _compute_batch(
        self,
        model: ModelInfo,
        batch: list[WindowState],
        references: dict[str, tuple[int, datetime]],
        plan: WindowPlan,
        now: datetime,
        summary: TickSummary,
        retry_failed: bool,
    ) -> None:
        """Claim the windows of `batch` at once, compute those taken (oldest first), and store
        their results in one transaction."""
        claimed = self.store.claim_windows(
            model,
            [s.key for s in batch],
            self.owner,
            lease_seconds=self.lease_seconds,
            retry_before=None if retry_failed else now,
        )
        history = History(
            self.store,
            model,
            [s.key for s in batch],
            size_seconds=plan.size_seconds,
            history=plan.history,
        )
        finished: list[FinishedWindow] = []
        for listed in batch:
            key = listed.key
            state = claimed.get(key)  # as claimed: its news up to the claim
            if state is None:
                summary.skip("claimed elsewhere")
                continue
            generation = state.generation
            stamp = references[key.version][1]
            # the reports and points stored for the window, when only labels came since
            previous = self.kept.for_labels(model.id, state, stamp)
            try:
                spec = self._spec(model, key.version)
                reference = self._reference(model, key.version, stamp, spec)
                result = compute_window(
                    self.store,
                    model,
                    key,
                    spec,
                    reference,
                    plan,
                    now=now,
                    previous=previous,
                    history=history,
                )
            except Exception as err:  # one window that cannot be computed must not stop the rest
                self.kept.keep(model.id, state, generation, stamp, None)
                self._fail(model, state, err, now, summary)
                continue
            if self.extra_points is not None:
                extra = self.extra_points(model, result.points)
                if extra:
                    result = replace(result, points=[*result.points, *extra])
            stored = key if key.kind == "tumbling" else replace(key, end=now)
            row = (generation, result.rows, result.labelled, report_json(result))
            if previous is None:
                finished.append(FinishedWindow(stored, *row, result.points))
            else:  # most points are as stored (the features' drift): write those that moved
                changed, stale = changed_points(previous.points, result.points)
                finished.append(FinishedWindow(stored, *row, changed, True, stale))
            self.kept.keep(model.id, state, generation, stamp, result.reports)
            summary.computed.append(replace(result, key=self.span(model.name, key, end=now)))
        self.store.finish_windows(model, finished, owner=self.owner)
        if self.after_batch is not None and finished:
            done = summary.computed[len(summary.computed) - len(finished) :]
            try:
                self.after_batch(model, done, now)
            except Exception:  # the windows are stored; a failing rule must not undo that
                log.exception("after the batch of model %s", model.name)

    def _fail(
        self,
        model: ModelInfo,
        state: WindowState,
        err: Exception,
        now: datetime,
        summary: TickSummary,
    ) -> None:
        """Record a window's failure with its reason and a retry time that backs off."""
        expected = isinstance(err, (VigilError, ValueError, pa.ArrowException))
        reason = str(err) if expected else f"{type(err).__name__}: {err}"
        # the count read with the state; the store counts the failure itself
        retry_at = now + self.backoff.delay(state.failures + 1)
        failures = self.store.fail_window(
            model, state.key, owner=self.owner, error=reason, retry_at=retry_at
        )
        span = self.span(model.name, state.key, end=now)
        line = (
            f"{model.name} {span.version} {span.kind} {span.start:%Y-%m-%dT%H:%M}: {reason} "
            f"(failure {failures} in a row; next try after {retry_at:%Y-%m-%dT%H:%M:%S}Z, "
            f"or when new rows or labels arrive)"
        )
        if expected:
            log.warning("window not computed: %s", line)
        else:  # a bug rather than the data: keep the traceback
            log.error("window not computed: %s", line, exc_info=err)
        summary.failed.append(line)

    def _open_is_due(
        self, model: ModelInfo, state: WindowState, plan: WindowPlan, *, nudged: bool
    ) -> bool:
        rows, _ = self.store.window_counts(model, state.key.version, state.key.start, state.key.end)
        if nudged and state.rows:
            return rows >= max(plan.min_rows, state.rows * NUDGE_GROWTH)
        return rows >= plan.min_rows

    def _spec(self, model: ModelInfo, version: str) -> Spec:
        cached = self._specs.get((model.id, version))
        if cached is None:
            cached = spec_from_dict(model.specs[version], source=f"model {model.name} v{version}")
            self._specs[(model.id, version)] = cached
        return cached

    def _reference(
        self, model: ModelInfo, version: str, stamp: datetime, spec: Spec
    ) -> PreparedVersion:
        """The version's reference uploaded at `stamp`, prepared for `spec` (kept)."""

        def load() -> pa.Table:
            data = self.store.get_reference(model, version)
            if data is None:
                raise VigilError(f"model {model.name!r} version {version!r} has no reference yet")
            return read_reference(data)

        return self.references.get(model.id, version, stamp, spec, load)

    def forget(self, model: ModelInfo) -> None:
        """Drop cached specs and references of a model (a version or reference changed)."""
        for key in [k for k in self._specs if k[0] == model.id]:
            del self._specs[key]
        self.references.forget(model.id)
        self.kept.forget(model.id)

    def backfill(self, model: ModelInfo, since: datetime, until: datetime) -> TickSummary:
        """Recompute the tumbling windows of a model that start in [since, until), failed
        ones too (redoing a window is news for it)."""
        self.store.redo_windows(model, since, until)
        return self.tick(models=[model.name])


class SchedulerThread:
    """Runs `monitor.tick()` every `interval` seconds on a daemon thread until stopped; a
    `nudge` (new rows committed) brings a tick `evaluate_after` seconds later (rows arriving
    meanwhile join it), so an open window's change is judged in seconds."""

    def __init__(
        self, monitor: Monitor, interval: float, *, evaluate_after: float | None = None
    ) -> None:
        self.monitor = monitor
        self.interval = interval
        self.evaluate_after = evaluate_after
        self._nudged = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-scheduler", daemon=True)
        self.last_tick: datetime | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current tick (waits at most `timeout` seconds)."""
        self._stop.set()
        # wake the thread from its wait for the next tick or nudge, which may be an interval
        # away: without this, every stop between ticks waited the whole `timeout`
        self._nudged.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def nudge(self) -> None:
        """New rows were committed: tick soon (at most once per `evaluate_after`)."""
        if self.evaluate_after is not None:
            self._nudged.set()

    def _run(self) -> None:
        next_tick = time.monotonic() + self.interval
        while not self._stop.is_set():
            nudged = self._nudged.wait(max(0.0, next_tick - time.monotonic()))
            if self._stop.is_set():
                break
            early = nudged and time.monotonic() < next_tick
            if early:
                assert self.evaluate_after is not None
                if self._stop.wait(self.evaluate_after):
                    break
                self._nudged.clear()  # rows committed during the wait are in this tick
            else:
                self._nudged.clear()  # a whole tick now takes in what the nudge was for
                next_tick = time.monotonic() + self.interval
            try:
                self.monitor.tick(nudged=early)
                self.last_error = None
            except Exception as err:  # the scheduler must outlive a bad tick; say why
                self.last_error = f"{type(err).__name__}: {err}"
                log.exception("scheduler tick failed")
            self.last_tick = utcnow()
