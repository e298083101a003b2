"""A model's overview: one page of cards that answers "is my model fine?".

Every card reads the page's time range; "now" is the latest window in it, so a range ending
before a change shows the model as it was then. A card's colour is never decided here: it is
the worst status the verdict gave the card's points in that window, or the severity of an
alert firing on the card's metrics; a figure nothing judges is shown grey ("not judged").
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.alerts.sla import SLA, budget
from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import line, ms, series_chart
from vigil.service.ui.render import PageError, href, number, page, page_model, worst
from vigil.service.ui.session import page_viewer
from vigil.service.ui.timerange import TimeRange, model_range
from vigil.store.base import ModelInfo, StoredAlert, utcnow
from vigil.store.dashboard import SeriesPoint

router = APIRouter(include_in_schema=False)
DAY = timedelta(days=1)
MAX_PARAM = 200  # characters of a query parameter; no name or time vigil shows is longer
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


def checked_param(name: str, value: str | None) -> str | None:
    """A query parameter, refused (422) when it is too long or holds a NUL."""
    if value is None:
        return None
    if len(value) > MAX_PARAM or "\x00" in value:
        raise PageError(
            422, f"{name}= is longer than {MAX_PARAM} characters or holds a NUL; shorten it."
        )
    return value


def page_range(request: Request, state: AppState, model: ModelInfo) -> TimeRange:
    """The time range and step the URL asks for, anchored at the model's windows."""
    query = request.query_params
    return model_range(
        state,
        model,
        last=checked_param("last", query.get("last")),
        since=checked_param("since", query.get("since")),
        until=checked_param("until", query.get("until")),
        step=checked_param("step", query.get("step")),
    )


def page_version(request: Request, model: ModelInfo, default: str | None) -> str | None:
    """The `version=` of the URL (404 when the model has no such version), or `default`."""
    version = checked_param("version", request.query_params.get("version"))
    if version in (None, ""):
        return default
    if version not in model.specs:
        known = ", ".join(sorted(model.specs))
        raise PageError(404, f"Model {model.name!r} has no version {version!r}; it has {known}.")
    return version


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
class _Reader:
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


def performance_card(reader: _Reader, version: str, alerts: list[StoredAlert]) -> Card:
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
    status = worst(
        [status, *_alert_status([a for a in alerts if a.version == version], ("performance.",))]
    )
    thresholds = [] if baseline is None else [("reference", float(baseline), "none")]
    return Card(
        f"performance-{version}",
        f"Performance · version {version}",
        status,
        f"{metric} {number(None if now is None else now.value)}",
        tuple(notes),
        series_chart([line(metric, points, band="se")], thresholds=thresholds),
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


def latency_card(reader: _Reader, alerts: list[StoredAlert], slas: list[SLA]) -> Card:
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


def volume_card(reader: _Reader, alerts: list[StoredAlert]) -> Card:
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


def drift_card(reader: _Reader, report: dict[str, Any], alerts: list[StoredAlert]) -> Card:
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


def missing_card(reader: _Reader, start: datetime | None, alerts: list[StoredAlert]) -> Card:
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


def sla_card(reader: _Reader, slas: list[SLA], end: datetime | None) -> Card:
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


@dataclass(frozen=True, slots=True)
class Overview:
    """What the overview page shows."""

    version: str
    versions: tuple[str, ...]
    latest: tuple[datetime, datetime] | None
    performance: tuple[Card, ...]
    cards: tuple[Card, ...]
    alerts: tuple[AlertLine, ...]
    firing: int
    pending: int


def overview(state: AppState, model: ModelInfo, version: str, timerange: TimeRange) -> Overview:
    """Every card of the overview of `version` over `timerange`, read from the store."""
    reader = _Reader(state, model, version, timerange)
    versions = tuple(sorted(model.specs, key=lambda v: (v != model.current_version, v)))
    every = state.store.read_alerts(
        model=model, status=None, severity=None, rule=None, since=None, limit=10_000
    )
    open_alerts = [a for a in every if a.status in ("firing", "pending")]
    # an alert colours a card when its evidence is a window of the range: a range that ends
    # before the change shows the model as it was then, whatever fires now
    in_range = [
        a
        for a in open_alerts
        if (timerange.since is None or a.window_start >= timerange.since)
        and (timerange.until is None or a.window_start < timerange.until)
    ]
    mine = [a for a in in_range if a.version in (version, "")]
    latest = reader.latest_window(version)
    report = window_report(state, model, version, latest and latest[0])
    slas = [s for s in state.settings.alerts.slas if s.covers(model.name)]
    with_data = [v for v in versions if reader.series("ops.count", version=v, step_seconds=WHOLE)]
    order = {"critical": 0, "warning": 1}
    return Overview(
        version,
        versions,
        latest,
        tuple(performance_card(reader, v, in_range) for v in with_data),
        (
            drift_card(reader, report, mine),
            balance_card(report),
            missing_card(reader, latest and latest[0], mine),
            volume_card(reader, mine),
            latency_card(reader, mine, slas),
            sla_card(reader, slas, latest and latest[1]),
            retrain_card(state, model),
        ),
        tuple(
            AlertLine(a.severity, a.status, a.rule, a.column, a.version, a.message)
            for a in sorted(
                open_alerts, key=lambda a: (order.get(a.severity, 2), a.status != "firing", a.rule)
            )[:8]
        ),
        sum(1 for a in open_alerts if a.status == "firing"),
        sum(1 for a in open_alerts if a.status == "pending"),
    )


@router.get("/models/{model}", response_class=HTMLResponse)
async def overview_page(model: str, request: Request) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[ModelInfo, TimeRange, Overview]:
        info = page_model(state, model)
        version = page_version(request, info, info.current_version) or info.current_version
        timerange = page_range(request, state, info)
        return info, timerange, overview(state, info, version, timerange)

    info, timerange, shown = await run_in_threadpool(read)
    return page(
        request,
        "overview.html.j2",
        viewer=viewer,
        title=f"{info.name} · overview",
        model=info,
        tab="overview",
        timerange=timerange,
        keep={"version": shown.version} if shown.version != info.current_version else {},
        overview=shown,
    )
