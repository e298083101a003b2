"""The alert engine: rules judged on every window the scheduler computes, and on the
scheduler's clock, through the lifecycle, into stored alerts, their events and the outbox.

One evaluation of a model (a batch of windows, or a clock tick) loads the model's alerts,
steps each finding through `vigil.alerts.lifecycle.step`, applies the silences, and stores the
alerts that changed, their events and the notices to send in one transaction
(`AlertStore.save_alerts`): a notice is in the outbox before anyone tries to send it
(`vigil.alerts.outbox`). The notices of one evaluation are one `Notice` per model and route.

Late labels recompute windows older than ones already judged. A finding on a window older
than the latest one judged for its key counts only when it is a breach confirming a firing
alert: a clear one does not resolve what a newer window found, and a breach on old data
neither reopens what newer windows have cleared nor counts as a further window toward `for`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Protocol

from vigil.alerts.judge import (
    AlertKey,
    Finding,
    History,
    NoHistory,
    judge,
    reference_values,
    roles_of,
)
from vigil.alerts.lifecycle import AlertState, step
from vigil.alerts.notice import AlertView, Notice, notice_json, view
from vigil.alerts.rules import Change, Control, Rule
from vigil.alerts.settings import AlertSettings, default_rules
from vigil.report.model import Report
from vigil.store.base import (
    AlertEvent,
    Delivery,
    MetricPoint,
    ModelInfo,
    Silence,
    Store,
    StoredAlert,
    alert_event,
    utcnow,
)

log = logging.getLogger("vigil.alerts")
# metrics of the model as it is now, measured on the scheduler's clock (vigil.alerts.clock),
# not by a window's computation: rules on them are judged on every tick
CLOCK_PREFIXES = ("freshness.", "volume.")
_ANY = 10**6


class Responder(Protocol):
    """What acts on alerts (vigil.alerts.actions): told of every evaluation's notified
    changes, and of every scheduler tick. Neither call may raise."""

    def on_events(self, model: ModelInfo, views: Sequence[AlertView], now: datetime) -> None: ...

    def on_clock(self, now: datetime) -> None: ...


ClockFigures = Callable[[ModelInfo, datetime], list[MetricPoint]]
SizeOf = Callable[[str], int]  # a model's window size in seconds


class StoreHistory:
    """Earlier windows' values of a point's metric, read from the store's metric points: for
    each (metric, version, segment) every column's tumbling windows between `since` and
    `until` in one read, kept for the evaluation (a rule on every column reads once, not once
    per column)."""

    def __init__(self, store: Store, model: ModelInfo, since: datetime, until: datetime) -> None:
        self._store = store
        self._model = model
        self._since = since
        self._until = until
        # (metric, version, segment) -> column -> the starts, and the values at them
        self._read: dict[tuple[str, str, str], dict[str, tuple[list[datetime], list[float | None]]]]
        self._read = {}

    def before(self, model: str, point: MetricPoint, limit: int) -> list[float]:
        """Up to `limit` values of the windows before `point`'s (at most `limit` + 1 window
        sizes back), newest first; windows without a value are passed over."""
        if point.kind != "tumbling":  # the rolling window has one stored key: no history
            return []
        starts, values = self._series(point)
        first = bisect_left(starts, point.start - (point.end - point.start) * (limit + 1))
        last = bisect_left(starts, point.start)
        earlier = [v for v in reversed(values[first:last]) if v is not None]
        return earlier[:limit]

    def at(self, model: str, point: MetricPoint, start: datetime) -> float | None:
        if point.kind != "tumbling":
            return None
        starts, values = self._series(point)
        i = bisect_left(starts, start)
        return values[i] if i < len(starts) and starts[i] == start else None

    def _series(self, point: MetricPoint) -> tuple[list[datetime], list[float | None]]:
        slot = (point.metric, point.version, point.segment)
        columns = self._read.get(slot)
        if columns is None:
            columns = {}
            for p in self._store.read_points(  # oldest first
                self._model,
                metric=point.metric,
                column=None,
                segment=point.segment,
                version=point.version,
                kind="tumbling",
                since=self._since,
                until=self._until,
                limit=_ANY,
            ):
                starts, values = columns.setdefault(p.column, ([], []))
                starts.append(p.start)
                values.append(p.value)
            self._read[slot] = columns
        return columns.get(point.column, ([], []))


def _reach(rules: Iterable[Rule], size: timedelta) -> timedelta | None:
    """How far before a window the rules look (None: none looks back)."""
    reach = None
    for rule in rules:
        when = rule.when
        if isinstance(when, Control):
            back = size * (when.windows + 1)
        elif isinstance(when, Change) and when.against == "previous":
            back = size * 2
        elif isinstance(when, Change) and isinstance(when.against, int):
            back = timedelta(seconds=when.against) + size
        else:
            continue
        reach = back if reach is None else max(reach, back)
    return reach


def silenced_by(key: AlertKey, silences: Iterable[Silence]) -> Silence | None:
    """The first silence whose every matcher matches the alert key (exact, or a `*` glob)."""
    rule, model, version, column, segment = key
    values = {"rule": rule, "model": model, "version": version, "column": column}
    values["segment"] = segment
    for silence in silences:
        if all(fnmatchcase(values.get(k, ""), v) for k, v in silence.matchers.items()):
            return silence
    return None


class AlertEngine:
    """Judges rules for the scheduler and keeps the alerts (one per process)."""

    def __init__(
        self,
        store: Store,
        settings: AlertSettings,
        *,
        size_of: SizeOf,
        clock: Callable[[], datetime] = utcnow,
        clock_figures: ClockFigures | None = None,
        responder: Responder | None = None,
        wake_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.size_of = size_of
        self.clock = clock
        self.clock_figures = clock_figures
        self.responder = responder
        self.wake_outbox = wake_outbox
        self._lock = threading.Lock()  # one evaluation at a time in a process

    def rules_for(self, model: ModelInfo) -> tuple[Rule, ...]:
        """The rules judged for `model`: those written, and the defaults unless turned off."""
        written = self.settings.rules  # each rule's scope picks its models when judged
        if not self.settings.defaults:
            return written
        return written + default_rules(model.name, self.size_of(model.name))

    # -- entry points ---------------------------------------------------------------------

    def judge_windows(
        self,
        model: ModelInfo,
        windows: Sequence[tuple[Sequence[MetricPoint], Report | None]],
        now: datetime | None = None,
    ) -> None:
        """Judge the windows a scheduler batch computed (their points and reports), oldest
        first, as one evaluation of the model."""
        now = now or self.clock()
        rules = [r for r in self.rules_for(model) if not r.metric.startswith(CLOCK_PREFIXES)]
        if not rules or not windows:
            return
        findings: list[Finding] = []
        # the tumbling windows: the rolling window (the last 7 days, say) is read, not judged
        # here — its span overlaps every tumbling window's, so it would muddle "newer"
        tumbling = [(p, r) for p, r in windows if p and p[0].kind == "tumbling"]
        ordered = sorted(tumbling, key=lambda w: w[0][0].start)
        if not ordered:
            return
        first, last = ordered[0][0][0], ordered[-1][0][0]
        reach = _reach(rules, first.end - first.start)
        history: History = NoHistory()
        if reach is not None:
            history = StoreHistory(self.store, model, first.start - reach, last.start)
        for points, report in ordered:
            version = points[0].version
            findings += judge(
                rules,
                model.name,
                points,
                history=history,
                references=reference_values(report) if report is not None else {},
                roles=self._roles(model, version),
            )
        self._apply(model, rules, findings, now)

    def tick(self, now: datetime | None = None) -> None:
        """The scheduler's clock: rules on figures that must fire when nothing arrives
        (freshness, volume), for every model; then the responder's scheduled actions."""
        now = now or self.clock()
        if self.clock_figures is not None:
            for model in self.store.list_models():
                rules = [r for r in self.rules_for(model) if r.metric.startswith(CLOCK_PREFIXES)]
                if not rules:
                    continue
                try:
                    points = self.clock_figures(model, now)
                    self._apply(model, rules, judge(rules, model.name, points), now)
                except Exception:  # one model's failure must not stop the others' alerts
                    log.exception("clock rules of model %s not judged", model.name)
        if self.responder is not None:
            self.responder.on_clock(now)

    # -- the lifecycle over stored alerts -------------------------------------------------

    def _roles(self, model: ModelInfo, version: str) -> dict[str, str]:
        return roles_of(model.specs.get(version) or {})

    def _apply(
        self, model: ModelInfo, rules: Sequence[Rule], findings: Sequence[Finding], now: datetime
    ) -> None:
        if not findings:
            return
        by_name = {r.name: r for r in rules}
        with self._lock:
            stored = {_key(a): a for a in self.store.alert_states(model)}
            silences = self.store.list_silences(active_at=now)
            changed: dict[str, StoredAlert] = {}
            events: list[AlertEvent] = []
            views: list[AlertView] = []
            for finding in findings:
                rule = by_name[finding.rule]
                before = stored.get(finding.key)
                is_open = before is not None and before.status != "resolved"
                older = before is not None and finding.point.start < before.window_start
                firing = before is not None and before.status == "firing"
                if older and (finding.severity is None or not firing):
                    # an older window judged again (late labels): a clear finding does not
                    # undo a newer window's breach, an old breach does not reopen what newer
                    # windows cleared nor count as a further window toward `for`; only a
                    # breach confirming a firing alert counts
                    continue
                state = _state(before)
                after, event = step(state, finding, rule, now, self.settings.policy)
                if after is None:
                    if before is not None and before.status == "pending":
                        dropped = _dropped(before, finding, now)
                        stored[finding.key] = changed[dropped.id] = dropped
                        events.append(
                            alert_event(dropped, now, "resolved", "cleared before it fired")
                        )
                    continue
                if after is state:
                    continue  # nothing changed (a clear finding with no alert, a cooldown)
                kept = before if is_open else None  # the same alert, or a new one
                alert_id = kept.id if kept is not None else uuid.uuid4().hex
                alert = _stored(alert_id, model.name, after, kept)
                stored[finding.key] = changed[alert_id] = alert
                if kept is None:
                    events.append(alert_event(alert, now, "pending", finding.message))
                if event is None:
                    continue
                events.append(alert_event(alert, now, event.kind, finding.message))
                why = self._held_back(finding.key, event.kind, alert.id, silences)
                if why is not None:
                    events.append(alert_event(alert, now, "silenced", why))
                    continue
                views.append(view(event, alert_id=alert_id, link=self._link(alert_id)))
            deliveries = self._deliveries(model, views, now)
            if changed or events:
                self.store.save_alerts(model, list(changed.values()), events, deliveries)
        if deliveries and self.wake_outbox is not None:
            self.wake_outbox()
        if views and self.responder is not None:
            self.responder.on_events(model, views, now)

    def _held_back(
        self, key: AlertKey, kind: str, alert_id: str, silences: Sequence[Silence]
    ) -> str | None:
        """Why an event of the alert is not told (a silence), or None to tell it."""
        silence = silenced_by(key, silences)
        if silence is not None:
            return f"not notified: silenced by {silence.id} until {silence.ends_at:%Y-%m-%dT%H:%M}Z"
        if kind == "resolved" and self._kept_back(alert_id):
            return "not notified: its last notice was silenced, so is its resolution"
        return None

    def _kept_back(self, alert_id: str) -> bool:
        """Whether a silence kept the alert's last notice back (so its resolution is not told
        either: no one heard it open)."""
        kept = False
        for event in self.store.alert_events(alert_id):
            if event.kind in ("opened", "escalated", "repeated"):
                kept = False
            elif event.kind == "silenced":
                kept = True
        return kept

    def _link(self, alert_id: str) -> str | None:
        base = self.settings.link
        return None if base is None else f"{base}/v1/alerts/{alert_id}"

    def _deliveries(
        self, model: ModelInfo, views: Sequence[AlertView], now: datetime
    ) -> list[Delivery]:
        if not views:
            return []
        notice = Notice(model.name, tuple(views), now)
        out = []
        for route in self.settings.routes:
            taken = route.select(notice)
            if taken is None:
                continue
            ids = tuple(dict.fromkeys(a.alert_id for a in taken.alerts if a.alert_id))
            out.append(
                Delivery(
                    uuid.uuid4().hex,
                    model.name,
                    route.notifier.name,
                    notice_json(taken),
                    ids,
                    now,
                    "pending",
                    next_at=now,
                )
            )
        return out


def _key(alert: StoredAlert) -> AlertKey:
    return (alert.rule, alert.model, alert.version, alert.column, alert.segment)


def _point(alert: StoredAlert) -> MetricPoint:
    return MetricPoint(
        alert.version,
        alert.window_kind,
        alert.segment,
        alert.window_start,
        alert.window_end,
        alert.metric,
        alert.column,
        alert.value,
        alert.point_status,
    )


def _state(alert: StoredAlert | None) -> AlertState | None:
    """The lifecycle's state of a stored alert (None: no alert, or a pending one dropped)."""
    if alert is None or (alert.status == "resolved" and alert.opened_at is None):
        return None
    finding = Finding(
        alert.rule,
        alert.model,
        _point(alert),
        alert.severity,  # type: ignore[arg-type]
        alert.threshold,
        alert.baseline,
        alert.message,
    )
    return AlertState(
        _key(alert),
        alert.status,
        alert.severity,  # type: ignore[arg-type]
        alert.began,
        alert.changed,
        alert.breached,
        alert.clear,
        alert.notified,
        finding,
    )


def _stored(
    alert_id: str, model: str, state: AlertState, before: StoredAlert | None
) -> StoredAlert:
    finding = state.finding
    point = finding.point
    rule, _, version, column, segment = state.key
    opened = before.opened_at if before is not None else None
    if opened is None and state.status != "pending":
        opened = state.changed
    return StoredAlert(
        id=alert_id,
        model=model,
        rule=rule,
        version=version,
        column=column,
        segment=segment,
        metric=point.metric,
        severity=state.severity,
        status=state.status,
        began=state.began,
        opened_at=opened,
        changed=state.changed,
        resolved_at=state.changed if state.status == "resolved" else None,
        breached=state.breached,
        clear=state.clear,
        notified=state.notified,
        window_kind=point.kind,
        window_start=point.start,
        window_end=point.end,
        value=point.value,
        threshold=finding.threshold,
        baseline=finding.baseline,
        message=finding.message,
        point_status=point.status,
        acked_at=before.acked_at if before is not None else None,
        acked_by=before.acked_by if before is not None else None,
        verdict=before.verdict if before is not None else None,
        verdict_by=before.verdict_by if before is not None else None,
        verdict_at=before.verdict_at if before is not None else None,
        verdict_note=before.verdict_note if before is not None else None,
    )


def _dropped(before: StoredAlert, finding: Finding, now: datetime) -> StoredAlert:
    """A pending alert whose breach cleared before it fired: closed, never opened."""
    point = finding.point
    return replace(
        before,
        status="resolved",
        changed=now,
        resolved_at=now,
        breached=0,
        window_kind=point.kind,
        window_start=max(point.start, before.window_start),
        window_end=max(point.end, before.window_end),
        value=point.value,
        message=finding.message,
        point_status=point.status,
    )
