"""A deployment: the store, the monitor and the models that a service's settings describe.

`vigil serve`, `vigil run --once` and `vigil backfill` build the same things from the same
settings here, without the web framework (only `vigil serve` loads FastAPI).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.alerts.actions import Actions
from vigil.alerts.clock import clock_points
from vigil.alerts.engine import AlertEngine
from vigil.alerts.outbox import Outbox
from vigil.alerts.sla import sla_points
from vigil.config import Settings
from vigil.errors import InputError, VigilError
from vigil.evaluation import read_current
from vigil.ingest.layout import layout_for
from vigil.measure.reading import Dataset
from vigil.measure.reference import conform_reference
from vigil.measure.streams import resolve
from vigil.monitor.scheduler import Backoff, Monitor
from vigil.monitor.streams import StreamDetectors, window_points
from vigil.spec import Spec, load_spec
from vigil.store.base import MetricPoint, ModelInfo, Store

log = logging.getLogger("vigil.service")


def build_monitor(settings: Settings, store: Store) -> Monitor:
    """The window computer the settings describe, over `store`, with the models' stream
    detectors run at the start of each tick and their detections added to the windows."""
    monitor = Monitor(
        store,
        settings.plans,
        default_plan=settings.windows,
        lease_seconds=settings.lease,
        retention_seconds=settings.retention,
        # a failed window is first retried one interval later, then ever more rarely
        backoff=Backoff(float(settings.interval), max(86400.0, float(settings.interval))),
    )
    streams = {m.name: m.streams for m in settings.models if m.streams}
    if streams:
        detectors = StreamDetectors(
            store, streams, size_of=lambda name: monitor.plan_for(name).size_seconds
        )
        monitor.before_tick = detectors.run
        monitor.extra_points = lambda model, points: window_points(store, model, points)
    return monitor


@dataclass(frozen=True, slots=True)
class Alerting:
    """The alert engine (fed by the monitor's hooks), the outbox that sends its notices, and
    the actions its alerts and the clock trigger."""

    engine: AlertEngine
    outbox: Outbox
    actions: Actions | None  # when `alerts.actions` is configured

    def send_due(self, most: int = 1000) -> int:
        """Send what the outbox holds now, in this thread (`vigil run --once`, `backfill`):
        at most `most` deliveries; how many were tried."""
        tried = 0
        while tried < most:
            done = self.outbox.run_once()
            if not done:
                break
            tried += done
        return tried


def build_alerting(settings: Settings, store: Store, monitor: Monitor) -> Alerting:
    """The alert engine and outbox the settings describe, hooked into `monitor`: rules are
    judged after every batch of windows it stores and on every tick's clock."""
    alerts = settings.alerts
    outbox = Outbox(store, alerts)

    def figures(model: ModelInfo, now: datetime) -> list[MetricPoint]:
        plan = monitor.plan_for(model.name)
        return clock_points(
            store, model, now=now, size_seconds=plan.size_seconds, history=plan.history
        )

    actions = None
    if alerts.actions is not None:
        actions = Actions(store, alerts.actions, clock=lambda: monitor.clock())
    engine = AlertEngine(
        store,
        alerts,
        size_of=lambda name: monitor.plan_for(name).size_seconds,
        clock=lambda: monitor.clock(),
        clock_figures=figures,
        responder=actions,
        wake_outbox=outbox.wake,
    )
    if alerts.slas:  # each window's SLA points are stored with its other points
        detections = monitor.extra_points

        def extra(model: ModelInfo, points: list[MetricPoint]) -> list[MetricPoint]:
            found = [] if detections is None else detections(model, points)
            return found + sla_points(alerts.slas, model.name, points)

        monitor.extra_points = extra
    monitor.after_batch = lambda model, results, now: engine.judge_windows(
        model, [(r.points, r.report) for r in results], now
    )
    monitor.after_tick = engine.tick
    return Alerting(engine, outbox, actions)


def register(store: Store, monitor: Monitor, name: str, version: str, spec: Spec) -> ModelInfo:
    """Register a model version from a spec (used by the route and by config at start)."""
    layout = layout_for(spec)
    label = None if layout.target is None else layout.target[1]
    model = store.register_model(name, version, spec.to_dict(), layout.stored(), label)
    monitor.forget(model)
    return model


def reference_parquet(reference: Dataset, spec: Spec) -> tuple[bytes, int]:
    """A reference set conformed to the spec (`conform_reference`, the check `vigil report`
    makes too) as the Parquet bytes the store keeps, and its rows."""
    table = conform_reference(reference, spec).table
    sink = io.BytesIO()
    try:
        pq.write_table(table, sink)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        kept = ", ".join(f"{f.name} ({f.type})" for f in table.schema if f.name not in spec.names)
        raise InputError(
            f"the reference {reference.source} cannot be stored as Parquet "
            f"({str(err).splitlines()[0]}); its columns outside the spec are {kept or 'none'}: "
            f"drop the ones of unusual types."
        ) from None
    return sink.getvalue(), table.num_rows


def load_config_models(settings: Settings, store: Store, monitor: Monitor) -> None:
    """Register the models the config names, and store their references, at start."""
    for cfg in settings.models:
        if cfg.spec is None:
            continue
        known = store.get_model(cfg.name)
        has_reference = known is not None and cfg.version in store.reference_versions(known)
        try:
            spec = load_spec(cfg.spec)
            for i, stream in enumerate(cfg.streams):  # a stream the spec lacks fails the start
                resolve(spec, stream, where=f"models.{cfg.name}.streams[{i}]")
            stored = None
            if cfg.reference is not None and not has_reference:  # before registering
                stored = reference_parquet(read_current(str(cfg.reference)), spec)
        except VigilError as err:
            raise type(err)(f"model {cfg.name!r} of the config: {err}") from None
        model = register(store, monitor, cfg.name, cfg.version, spec)
        if stored is not None:
            store.put_reference(model, cfg.version, *stored)
        log.info("model %s version %s registered from %s", cfg.name, cfg.version, cfg.spec)
