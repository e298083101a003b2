"""The overview's cards: each a figure of the model now, its status, and a small chart.

A card's colour is never decided here: it is the worst status the verdict gave the card's
points in the latest window of the range, or the severity of an alert firing on the card's
metrics; a figure nothing judges is shown grey ("not judged").
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.alerts.sla import SLA, budget
from vigil.service.state import AppState
from vigil.service.ui.charts import line, ms, series_chart
from vigil.service.ui.render import href, number, protected_columns, worst
from vigil.service.ui.timerange import TimeRange
from vigil.spec.types import RATIO_FAIRNESS
from vigil.store.base import ModelInfo, StoredAlert, utcnow
from vigil.store.dashboard import SeriesPoint

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
MAX_POINTS = 100_000
JUDGED = ("ok", "warning", "critical")
WHOLE = 10**10  # seconds: a step longer than any range, so a series comes back as one group


@dataclass(frozen=True, slots=True)
class Card:
    """One card: a title, its status, the figure now, sentences beside it, a small chart."""

    key: str  # stable id (tests, anchors)
    title: str
    status: str  # ok | warning | critical | pending | none (not judged)
    figure: str
    notes: tuple[str, ...]
    chart: dict[str, Any] | None = None
    link: tuple[str, str] | None = None  # (href, text)


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An open alert as the overview lists it."""

    severity: str
    status: str
    rule: str
    column: str
    version: str
    message: str


def task_of(model: ModelInfo, version: str) -> str:
    """The spec's task (binary, multiclass, regression), or "" when it states none."""
    return str(model.specs.get(version, {}).get("task") or "")


def window_report(
    state: AppState, model: ModelInfo, version: str, start: datetime | None
) -> dict[str, Any]:
    """The stored report of one window as JSON data ({} when there is none)."""
    if start is None:
        return {}
    found = state.store.window_report(model, version, "tumbling", start)
    if found is None or not found[1]:
        return {}
    data = json.loads(found[1])
    return data if isinstance(data, dict) else {}


def latest_judged(points: list[SeriesPoint]) -> SeriesPoint | None:
    """The newest point with a value, or None."""
    return next((p for p in reversed(points) if p.value is not None), None)


def _last_status(points: list[SeriesPoint]) -> str:
    """The status of the newest point (pending when the range has none)."""
    return points[-1].status if points else "pending"


@dataclass(frozen=True, slots=True)
class CardReader:
    """The reads of one overview: the model, the version shown and the range."""

    state: AppState
    model: ModelInfo
    version: str
    timerange: TimeRange

    def series(self, metric: str, *, version: str | None = None, **options: Any) -> list[Any]:
        return self.state.store.series(
            self.model,
            metric=metric,
            version=version or self.version,
            since=self.timerange.since,
            until=self.timerange.until,
            step_seconds=options.pop("step_seconds", self.timerange.step_seconds),
            **options,
        )

    def latest_window(self, version: str) -> tuple[datetime, datetime] | None:
        """The start and end of the version's latest window in the range (None: none)."""
        days = self.series("ops.count", version=version, step_seconds=86_400)
        if not days:
            return None
        end = days[-1].end
        size = timedelta(seconds=self.state.monitor.plan_for(self.model.name).size_seconds)
        return end - size, end

    def window_points(self, start: datetime, metric: str) -> list[Any]:
        return self.state.store.read_points(
            self.model,
            metric=metric,
            column=None,
            segment="",
            version=self.version,
            kind="tumbling",
            since=start,
            until=start + timedelta(microseconds=1),
            limit=MAX_POINTS,
        )


def _alert_status(alerts: list[StoredAlert], prefixes: tuple[str, ...]) -> list[str]:
    return [a.severity for a in alerts if a.status == "firing" and a.metric.startswith(prefixes)]


def performance_card(reader: CardReader, version: str, alerts: list[StoredAlert]) -> Card:
    """Realized performance of one version now vs the reference's, with its noise band."""
    metric = DEFAULT_METRIC.get(task_of(reader.model, version), "accuracy")
    name = f"performance.{metric}"
    points = reader.series(name, version=version)
    now = latest_judged(points)
    latest = reader.latest_window(version)
    report = window_report(reader.state, reader.model, version, latest and latest[0])
    reference = (report.get("performance") or {}).get("reference") or {}
    baseline = reference.get(metric)
    counts = reader.series("ops.count", version=version, step_seconds=WHOLE)
    labelled = reader.series("performance.labelled_rows", version=version, step_seconds=WHOLE)
    rows = sum((p.value or 0.0) * p.windows for p in counts)
    with_labels = sum((p.value or 0.0) * p.windows for p in labelled)
    waiting = sum(1 for p in points if p.status == "pending")
    notes = [
        "reference: " + (number(baseline) if baseline is not None else "not measured"),
        f"labelled: {number(with_labels)} of {number(rows)} predictions"
        + (f" ({100 * with_labels / rows:.0f}%)" if rows else ""),
    ]
    if now is not None and now.band is not None:
        notes.insert(1, f"noise band ±{number(1.96 * now.band)} (95%) at {_when(now.start)}")
    if waiting:
        notes.append(f"{waiting} recent window(s) still wait for labels")
    status = now.status if now is not None else "pending"
    figure = f"{metric} {number(None if now is None else now.value)}"
    lines = [line(metric, points, band="se")]
    # the labels not in yet for the newest windows: the estimate from the scores (CBPE) speaks
    estimated = reader.series(f"estimated.{metric}", version=version)
    guess = latest_judged(estimated)
    if estimated:
        lines.append(line(f"{metric}, estimated before labels", estimated, band="se"))
    if guess is not None and (now is None or guess.start > now.start):
        figure = f"{metric} ≈ {number(guess.value)} (estimated)"
        status = guess.status
        notes.insert(
            0,
            f"estimated from the scores at {_when(guess.start)}, before its labels "
            f"(±{number(1.96 * guess.band) if guess.band is not None else '?'} at 95%)",
        )
    prefixes = ("performance.", "estimated.")
    status = worst([status, *_alert_status([a for a in alerts if a.version == version], prefixes)])
    thresholds = [] if baseline is None else [("reference", float(baseline), "none")]
    return Card(
        f"performance-{version}",
        f"Performance · version {version}",
        status,
        figure,
        tuple(notes),
        series_chart(lines, thresholds=thresholds),
        (
            href(
                "/models",
                reader.model.name,
                "performance",
                version=version,
                **reader.timerange.query(),
            ),
            "performance over time",
        ),
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M")


def latency_card(reader: CardReader, alerts: list[StoredAlert], slas: list[SLA]) -> Card:
    """Latency p50/p99 against the budget an SLA objective sets, if one does."""
    p50 = reader.series("ops.latency_p50_ms")
    p99 = reader.series("ops.latency_p99_ms")
    budgets = [
        (sla, o)
        for sla in slas
        for o in sla.objectives
        if o.metric in ("ops.latency_p50_ms", "ops.latency_p95_ms", "ops.latency_p99_ms")
    ]
    statuses = _alert_status(alerts, ("ops.latency",))
    notes = []
    thresholds: list[tuple[str, float, str]] = []
    for sla, objective in budgets:
        thresholds.append((f"{sla.name}: {objective}", objective.level, "critical"))
        found = reader.state.store.read_points(
            reader.model,
            metric="sla.objective",
            column=f"{sla.name}:{objective.metric}",
            segment="",
            version=reader.version,
            kind="tumbling",
            since=reader.timerange.since,
            until=reader.timerange.until,
            limit=MAX_POINTS,
        )
        if found:
            statuses.append(found[-1].status)
        notes.append(f"budget {objective} (SLA {sla.name})")
    if not budgets:
        notes.append("no budget set (an SLA objective on ops.latency_p99_ms sets one)")
    now50, now99 = latest_judged(p50), latest_judged(p99)
    return Card(
        "latency",
        "Latency",
        worst(statuses),
        f"p50 {number(now50.value if now50 else None)} ms · "
        f"p99 {number(now99.value if now99 else None)} ms",
        tuple(notes),
        series_chart(
            [line("p50", p50), line("p99", p99)], unit="ms", thresholds=thresholds, zero=True
        ),
    )


def volume_card(reader: CardReader, alerts: list[StoredAlert]) -> Card:
    """Predictions per day: the latest day in the range against the median of the days
    before it."""
    days = reader.series("ops.count", step_seconds=86_400)
    totals = [(p.start, (p.value or 0.0) * p.windows, p.windows) for p in days]
    notes = []
    figure = "–"
    if totals:
        start, today, windows = totals[-1]
        figure = f"{number(today)} on {start:%Y-%m-%d}"
        full = max(w for _, _, w in totals)
        if windows < full:
            notes.append(f"that day has {windows} of {full} windows so far")
        before = [total for _, total, w in totals[:-1] if w == full]
        if before:
            typical = statistics.median(before)
            notes.append(f"typical: {number(typical)} a day (median of {len(before)} earlier days)")
            if typical:
                notes.append(f"{100 * today / typical:.0f}% of typical")
    status = worst(_alert_status(alerts, ("ops.count", "ops.volume", "volume.", "freshness.")))
    chart_line = {
        "name": "predictions per day",
        "points": [[ms(s), total, None, None, "none", None] for s, total, _ in totals],
    }
    return Card(
        "volume",
        "Predictions per day",
        status,
        figure,
        tuple(notes),
        series_chart([chart_line], zero=True),
    )


def drift_card(reader: CardReader, report: dict[str, Any], alerts: list[StoredAlert]) -> Card:
    """The share of drifted features against the spec's dataset thresholds."""
    points = reader.series("drift.share_drifted")
    drift = report.get("drift") or {}
    shares = ((report.get("spec") or {}).get("drift") or {}).get("dataset_share") or []
    thresholds = [
        (f"{severity} at", float(value), severity)
        for severity, value in zip(("warning", "critical"), shares, strict=False)
        if isinstance(value, (int, float))
    ]
    now = latest_judged(points)
    notes = []
    if drift:
        notes.append(
            f"{drift.get('n_drifted', 0)} of {drift.get('n_features', 0)} features drifted"
        )
    drifted = sorted(
        name
        for name, col in (drift.get("columns") or {}).items()
        if isinstance(col, dict) and col.get("role") == "feature" and col.get("drifted")
    )
    if drifted:
        notes.append("drifted: " + ", ".join(drifted[:5]) + (" …" if len(drifted) > 5 else ""))
    if thresholds:
        notes.append("threshold: " + ", ".join(f"{s} {number(v)}" for _, v, s in thresholds))
    status = worst([_last_status(points), *_alert_status(alerts, ("drift.",))])
    return Card(
        "drift",
        "Data drift",
        status,
        f"{number(None if now is None else now.value)} drifted share",
        tuple(notes),
        series_chart([line("share drifted", points)], thresholds=thresholds, zero=True),
        (href("/models", reader.model.name, "drift", **reader.timerange.query()), "drift heatmap"),
    )


def missing_card(reader: CardReader, start: datetime | None, alerts: list[StoredAlert]) -> Card:
    """Missing values in the latest window against the range's typical share, and the columns
    the verdict flagged."""
    points = reader.series("ops.missing_share")
    values = [p.value for p in points if p.value is not None]
    judged = [] if start is None else reader.window_points(start, "quality.missing_share")
    flagged = sorted(p.column for p in judged if p.status in ("warning", "critical"))
    notes = []
    if len(values) > 1:
        typical = statistics.median(values[:-1])
        notes.append(f"typical: {100 * typical:.2g}% (median of the range)")
    notes.append(
        "flagged: " + ", ".join(flagged[:5]) + (" …" if len(flagged) > 5 else "")
        if flagged
        else f"no column flagged of {len(judged)} judged"
    )
    statuses = [p.status for p in judged if p.status in JUDGED]
    status = worst([*statuses, *_alert_status(alerts, ("quality.missing", "ops.missing"))])
    return Card(
        "missing",
        "Missing values",
        status,
        "–" if not values else f"{100 * values[-1]:.2g}% of cells",
        tuple(notes),
        series_chart([line("missing share", points)], zero=True),
    )


def balance_card(report: dict[str, Any]) -> Card:
    """The prediction's class shares in the latest window against the reference's."""
    columns = (report.get("drift") or {}).get("columns") or {}
    prediction = next(
        (
            (n, c)
            for n, c in columns.items()
            if isinstance(c, dict) and c.get("role") == "prediction"
        ),
        None,
    )
    if prediction is None:
        return Card(
            "balance", "Class balance", "pending", "–", ("no window measured the prediction yet",)
        )
    name, column = prediction
    shares = column.get("distribution") or {}
    labels = [str(x) for x in shares.get("labels") or []]
    reference = [float(x) for x in shares.get("reference") or []]
    current = [float(x) for x in shares.get("current") or []]
    notes = [
        f"{label}: {100 * now:.0f}% (reference {100 * ref:.0f}%)"
        for label, ref, now in list(zip(labels, reference, current, strict=False))[:4]
    ]
    chart = {
        "kind": "bars",
        "categories": labels,
        "series": [
            {"name": "reference", "values": reference},
            {"name": "latest window", "values": current},
        ],
        "unit": "",
    }
    return Card(
        "balance",
        f"Class balance · {name}",
        str(column.get("status") or "none"),
        f"{column.get('method', 'drift')} {number(column.get('statistic'))}",
        tuple(notes),
        chart,
    )


def sla_card(reader: CardReader, slas: list[SLA], end: datetime | None) -> Card:
    """Each SLA covering the model: its latest window and its 30-day error budget."""
    if not slas:
        return Card("sla", "SLA", "none", "no SLA", ("no SLA covers this model (alerts.slas)",))
    notes = []
    statuses = []
    now = end or utcnow()
    for sla in slas:
        points = reader.state.store.read_points(
            reader.model,
            metric="sla.met",
            column=sla.name,
            segment="",
            version=reader.version,
            kind="tumbling",
            since=now - timedelta(days=31),
            until=reader.timerange.until,
            limit=MAX_POINTS,
        )
        spent = budget(points, sla, now, 30)
        latest = points[-1].status if points else "pending"
        statuses.append(latest)
        left = (
            "no window judged"
            if spent.remaining is None
            else f"{100 * spent.remaining:.0f}% of the error budget left"
        )
        notes.append(
            f"{sla.name}: latest window {latest}; {spent.met} met, {spent.breached} breached "
            f"in 30 days; {left}"
        )
    return Card("sla", "SLA and error budget", worst(statuses), f"{len(slas)} SLA(s)", tuple(notes))


def retrain_card(state: AppState, model: ModelInfo) -> Card:
    """The last retrain, the next scheduled one, this month's retrains by trigger."""
    if state.actions is None:
        return Card(
            "retrain",
            "Retraining",
            "none",
            "not configured",
            ("no actions are configured (alerts.actions)",),
        )
    s = state.actions.summary(model, utcnow())
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s.this_month.items()) if v) or "none"
    notes = (
        "next scheduled: "
        + ("–" if s.next_scheduled is None else f"{s.next_scheduled:%Y-%m-%d %H:%M} UTC"),
        f"this month by trigger: {counts}",
        f"failed {s.failed_this_month}, skipped {s.skipped_this_month}"
        + ("" if s.monthly_budget is None else f"; budget {s.monthly_budget} a month"),
    )
    last = "never" if s.last_at is None else f"{s.last_at:%Y-%m-%d %H:%M} UTC ({s.last_trigger})"
    return Card("retrain", "Retraining", "none", f"last: {last}", notes)


def fairness_levels(model: ModelInfo, version: str, measure: str) -> list[tuple[str, float, str]]:
    """The warning and critical levels of a fairness measure, as the spec of `version` sets
    them (the spec's defaults written by `Spec.to_dict`), for a chart's dashed lines."""
    options = model.specs.get(version, {}).get("fairness") or {}
    key = "ratio" if measure in RATIO_FAIRNESS else "difference"
    levels = options.get(key) or []
    return [
        (f"{severity} {'below' if key == 'ratio' else 'at'}", float(value), severity)
        for severity, value in zip(("warning", "critical"), levels, strict=False)
        if isinstance(value, (int, float))
    ]


FAIRNESS_CARD_MEASURE = "disparate_impact"  # the four-fifths rule: the figure people know


def fairness_card(
    reader: CardReader, report: dict[str, Any], alerts: list[StoredAlert]
) -> Card | None:
    """The fairness of each protected attribute now: the worst judged measure, with the
    disparate impact of the first attribute over time. None when the spec protects none."""
    attributes = protected_columns(reader.model, reader.version)
    if not attributes:
        return None
    checks = [
        c
        for c in report.get("checks") or []
        if isinstance(c, dict) and str(c.get("name", "")).startswith("fairness.")
    ]
    judged = [c for c in checks if c.get("status") in JUDGED]
    order = {"critical": 0, "warning": 1, "ok": 2}
    notes = []
    for c in sorted(judged, key=lambda c: (order[c["status"]], c["name"]))[:3]:
        notes.append(
            f"{c['name'].removeprefix('fairness.')} of {c['column']}: {number(c.get('value'))}"
            f" ({c['status']})"
        )
    reason = (report.get("fairness") or {}).get("reason")
    if reason:
        notes.append(f"not measured: {reason}")
    statuses = [c["status"] for c in checks if c.get("status") in (*JUDGED, "pending")]
    status = worst([*statuses, *_alert_status(alerts, ("fairness.",))]) if statuses else "pending"
    first = attributes[0]
    metric = f"fairness.{FAIRNESS_CARD_MEASURE}"
    points = reader.series(metric, column=first)
    now = latest_judged(points)
    return Card(
        "fairness",
        "Fairness",
        status,
        f"disparate impact {number(None if now is None else now.value)} ({first})",
        tuple(notes) or ("no fairness measure judged in the latest window",),
        series_chart(
            [line(first, points, band="se")],
            thresholds=fairness_levels(reader.model, reader.version, FAIRNESS_CARD_MEASURE),
        ),
        (
            href("/models", reader.model.name, "fairness", **reader.timerange.query()),
            "fairness over time",
        ),
    )
