"""The scheduler: compute every window that has news, once, wherever vigil runs.

A tick looks at the windows the store marked dirty (new rows or new labels since they were last
computed), claims each with a lease — so that two `vigil serve` instances on one PostgreSQL
compute a window once — evaluates it and stores its report and metric points. An open window
is evaluated once it holds the plan's minimum of rows, so a change shows before it closes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pyarrow as pa

from vigil.errors import VigilError
from vigil.monitor.windows import (
    WindowPlan,
    WindowResult,
    compute_window,
    read_reference,
    report_json,
)
from vigil.spec import Spec, spec_from_dict
from vigil.store.base import ModelInfo, Store, WindowState, utcnow

log = logging.getLogger("vigil.monitor")


@dataclass(slots=True)
class TickSummary:
    """What one tick did."""

    computed: list[WindowResult] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> windows
    failed: list[str] = field(default_factory=list)  # one line per window that raised

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
    ) -> None:
        self.store = store
        self.plans = dict(plans)
        self.default_plan = default_plan
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._references: dict[tuple[int, str], tuple[datetime, pa.Table]] = {}
        self._specs: dict[tuple[int, str], Spec] = {}
        self._lock = threading.Lock()  # one tick at a time in a process

    def plan_for(self, model: str) -> WindowPlan:
        """The window plan of a model: its own, or the default one."""
        return self.plans.get(model, self.default_plan)

    def tick(self, *, models: list[str] | None = None) -> TickSummary:
        """Compute the windows that are due now; returns what was done."""
        summary = TickSummary()
        with self._lock:
            for model in self.store.list_models():
                if models is not None and model.name not in models:
                    continue
                self._tick_model(model, summary)
        return summary

    def _tick_model(self, model: ModelInfo, summary: TickSummary) -> None:
        plan = self.plan_for(model.name)
        now = self.clock()
        if self.retention_seconds is not None:
            self.store.drop_predictions_before(
                model, now - timedelta(seconds=self.retention_seconds)
            )
        references = self.store.reference_versions(model)
        for state in self.store.window_states(model, dirty_only=True):
            key = state.key
            if key.version not in references:
                summary.skip("no reference for the version")
                continue
            if key.kind == "rolling" and plan.rolling_seconds is None:
                continue
            if (
                key.kind == "tumbling"
                and key.end > now
                and not self._open_is_due(model, state, plan)
            ):
                summary.skip("open window below min_rows")
                continue
            generation = self.store.claim_window(
                model, key, self.owner, lease_seconds=self.lease_seconds
            )
            if generation is None:
                summary.skip("claimed elsewhere")
                continue
            try:
                spec = self._spec(model, key.version)
                reference = self._reference(model, key.version, references[key.version][1])
                result = compute_window(self.store, model, key, spec, reference, plan, now=now)
            except (VigilError, ValueError, pa.ArrowException) as err:
                self.store.release_window(model, key, self.owner)
                line = f"{model.name} {key.version} {key.kind} {key.start:%Y-%m-%dT%H:%M}: {err}"
                log.warning("window not computed: %s", line)
                summary.failed.append(line)
                continue
            self.store.finish_window(
                model,
                key if key.kind == "tumbling" else replace(key, end=now),
                owner=self.owner,
                generation=generation,
                rows=result.rows,
                labelled=result.labelled,
                report=report_json(result),
                points=result.points,
            )
            summary.computed.append(result)

    def _open_is_due(self, model: ModelInfo, state: WindowState, plan: WindowPlan) -> bool:
        rows, _ = self.store.window_counts(model, state.key.version, state.key.start, state.key.end)
        return rows >= plan.min_rows

    def _spec(self, model: ModelInfo, version: str) -> Spec:
        cached = self._specs.get((model.id, version))
        if cached is None:
            cached = spec_from_dict(model.specs[version], source=f"model {model.name} v{version}")
            self._specs[(model.id, version)] = cached
        return cached

    def _reference(self, model: ModelInfo, version: str, stamp: datetime) -> pa.Table:
        cached = self._references.get((model.id, version))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        data = self.store.get_reference(model, version)
        if data is None:
            raise VigilError(f"model {model.name!r} version {version!r} has no reference yet")
        table = read_reference(data)
        self._references[(model.id, version)] = (stamp, table)
        return table

    def forget(self, model: ModelInfo) -> None:
        """Drop cached specs and references of a model (a version or reference changed)."""
        for cache in (self._specs, self._references):
            for key in [k for k in cache if k[0] == model.id]:
                del cache[key]

    def backfill(self, model: ModelInfo, since: datetime, until: datetime) -> TickSummary:
        """Recompute the tumbling windows of a model that start in [since, until)."""
        self.store.redo_windows(model, since, until)
        return self.tick(models=[model.name])


class SchedulerThread:
    """Runs `monitor.tick()` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, monitor: Monitor, interval: float) -> None:
        self.monitor = monitor
        self.interval = interval
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
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.monitor.tick()
                self.last_error = None
            except Exception as err:  # the scheduler must outlive a bad tick; say why
                self.last_error = f"{type(err).__name__}: {err}"
                log.exception("scheduler tick failed")
            self.last_tick = utcnow()
