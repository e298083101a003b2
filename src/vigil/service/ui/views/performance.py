"""Performance over time: one metric per version with its noise band, label coverage beside
it, per segment, and the versions side by side (champion against challenger when one is
configured, otherwise each version on its own windows)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.measure.performance import CHECKED_METRICS, HIGHER_IS_BETTER
from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import detection_marks, line, series_chart
from vigil.service.ui.render import PageError, href, page, page_model
from vigil.service.ui.session import page_viewer
from vigil.service.ui.timerange import TimeRange
from vigil.service.ui.views.cards import DEFAULT_METRIC, WHOLE, task_of
from vigil.service.ui.views.overview import checked_param, page_range, page_version
from vigil.store.base import ModelInfo
from vigil.store.dashboard import SeriesPoint

router = APIRouter(include_in_schema=False)
MAX_SEGMENT_LINES = 12  # lines on the per-segment chart; more are listed, not drawn


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version's figures over the range, for the side-by-side table."""

    version: str
    role: str  # champion | challenger | current | other
    windows: int
    mean: float | None
    low: float | None
    high: float | None
    latest: SeriesPoint | None  # the newest window with a value
    reference: float | None
    predictions: float | None  # None for a segment: counts are kept for whole windows
    labelled: float
    statuses: dict[str, int]  # windows (or steps) by status


@dataclass(frozen=True, slots=True)
class Challenge:
    """The configured challenger and the last comparison recorded for it."""

    champion: str
    challenger: str
    metric: str
    evidence: dict[str, Any] | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class Performance:
    """What the performance page shows."""

    metric: str
    metrics: tuple[str, ...]
    higher_is_better: bool
    version: str | None
    segment: str
    segments: tuple[str, ...]
    chart: dict[str, Any]
    coverage: dict[str, Any]
    by_segment: dict[str, Any] | None
    segment_version: str
    rows: tuple[VersionRow, ...]
    challenge: Challenge | None


def _metrics(model: ModelInfo) -> tuple[str, ...]:
    """The performance metrics the model's tasks measure, the checked ones first."""
    tasks = {task_of(model, v) for v in model.specs}
    checked = [m for t in sorted(tasks) for m in CHECKED_METRICS.get(t, ())]
    extra = {
        "binary": ("precision", "recall", "fpr", "fnr", "brier", "ece"),
        "multiclass": (),
        "regression": ("mape",),
    }
    more = [m for t in sorted(tasks) for m in extra.get(t, ())]
    return tuple(dict.fromkeys([*checked, *more]))


def page_metric(request: Request, model: ModelInfo, metrics: tuple[str, ...]) -> str:
    """The `metric=` of the URL (422 when it is not one of the model's), or the task's own."""
    asked = checked_param("metric", request.query_params.get("metric"))
    if asked in (None, ""):
        default = DEFAULT_METRIC.get(task_of(model, model.current_version), "")
        return default if default in metrics else (metrics[0] if metrics else "accuracy")
    name = asked.removeprefix("performance.")
    if name not in metrics:
        raise PageError(
            422,
            f"metric={asked!r} is not a performance metric of {model.name!r}; "
            f"use one of {', '.join(metrics) or 'none (the spec has no target)'}.",
        )
    return name


def page_segment(request: Request, state: AppState, model: ModelInfo) -> tuple[str, list[str]]:
    """The `segment=` of the URL (404 when no window was evaluated on it) and every segment."""
    segments = state.store.segments(model)
    asked = checked_param("segment", request.query_params.get("segment")) or ""
    if asked and asked not in segments:
        listed = ", ".join(segments[:20]) or "none (the spec names no segment column)"
        raise PageError(404, f"Model {model.name!r} has no segment {asked!r}; it has {listed}.")
    return asked, segments


def read_series(
    state: AppState,
    model: ModelInfo,
    metric: str,
    segment: str,
    version: str | None,
    timerange: TimeRange,
    step: int | None,
) -> list[SeriesPoint]:
    """One metric over the page's range, per version, grouped by `step`."""
    return state.store.series(
        model,
        metric=metric,
        segment=segment,
        version=version,
        since=timerange.since,
        until=timerange.until,
        step_seconds=step,
    )


def _window_link(model: ModelInfo, timerange: TimeRange) -> Any:
    if timerange.step_seconds is not None:
        return None  # a point groups windows: there is no one window to open

    def link(p: SeriesPoint) -> str:
        start = p.start.isoformat() + "Z"
        return href("/models", model.name, "windows", p.version, "tumbling", start)

    return link


def _challenge(state: AppState, model: ModelInfo) -> Challenge | None:
    if state.actions is None or model.name not in state.actions.settings.challengers:
        return None
    plan = state.actions.settings.challengers[model.name]
    for record in state.store.read_actions(model, kind="promote", since=None, limit=100):
        evidence = json.loads(record.evidence or "{}")
        pair = (evidence.get("champion"), evidence.get("challenger"))
        if pair == (plan.champion, plan.challenger):
            return Challenge(
                plan.champion, plan.challenger, plan.metric, evidence, record.decided_at
            )
    return Challenge(plan.champion, plan.challenger, plan.metric, None, None)


def performance(
    state: AppState,
    model: ModelInfo,
    *,
    metric: str,
    metrics: tuple[str, ...],
    version: str | None,
    segment: str,
    segments: list[str],
    timerange: TimeRange,
) -> Performance:
    """The performance page's charts and table, read grouped from the store."""
    name = f"performance.{metric}"
    step = timerange.step_seconds
    points = read_series(state, model, name, segment, version, timerange, step)
    # the same metric estimated from the scores before the labels (CBPE), where measured
    estimated = read_series(state, model, f"estimated.{metric}", segment, version, timerange, step)
    coverage = read_series(
        state, model, "performance.label_coverage", segment, version, timerange, step
    )
    versions = sorted(
        {p.version for p in (*points, *coverage, *estimated)},
        key=lambda v: (v != model.current_version, v),
    )
    challenge = _challenge(state, model)
    link = _window_link(model, timerange)
    # where a stream detector fired on the model's error stream (docs/config.md)
    detections = state.store.column_series(
        model,
        column="error",
        prefixes=("detect.",),
        version=version,
        since=timerange.since,
        until=timerange.until,
        step_seconds=step,
    )
    marks = detection_marks(detections) if not segment else []
    lines, coverage_lines, rows = [], [], []
    for v in versions:
        mine = [p for p in points if p.version == v]
        label = f"version {v}" + (" (current)" if v == model.current_version else "")
        lines.append(line(label, mine, band="se", href=link))
        guessed = [p for p in estimated if p.version == v]
        if guessed:
            lines.append(line(f"{label}, estimated before labels", guessed, band="se", href=link))
        coverage_lines.append(line(label, [p for p in coverage if p.version == v], href=link))
        rows.append(_row(state, model, v, name, segment, timerange, mine, challenge))
    reference = next((r.reference for r in rows if r.version == model.current_version), None)
    thresholds = [] if reference is None else [("reference", reference, "none")]
    by_segment = None
    segment_version = version or model.current_version
    if segments and not segment:
        segment_lines = [
            line(s, read_series(state, model, name, s, segment_version, timerange, step))
            for s in segments[:MAX_SEGMENT_LINES]
        ]
        by_segment = series_chart(segment_lines, unit=metric, thresholds=thresholds)
    return Performance(
        metric,
        metrics,
        HIGHER_IS_BETTER.get(metric, True),
        version,
        segment,
        tuple(segments),
        series_chart(lines, unit=metric, thresholds=thresholds, marks=marks),
        series_chart(coverage_lines, unit="labelled share", zero=True),
        by_segment,
        segment_version,
        tuple(rows),
        challenge,
    )


def _row(
    state: AppState,
    model: ModelInfo,
    version: str,
    name: str,
    segment: str,
    timerange: TimeRange,
    points: list[SeriesPoint],
    challenge: Challenge | None,
) -> VersionRow:
    def total(metric: str) -> float:
        found = read_series(state, model, metric, segment, version, timerange, WHOLE)
        return sum((p.value or 0.0) * p.windows for p in found)

    whole = read_series(state, model, name, segment, version, timerange, WHOLE)
    merged = whole[0] if whole else None
    latest = next((p for p in reversed(points) if p.value is not None), None)
    # the reference's value: every report of the version holds it; the latest is at hand
    found = state.store.latest_report(model, version)
    report = json.loads(found[1]) if found and found[1] else {}
    reference = ((report.get("performance") or {}).get("reference") or {}).get(
        name.removeprefix("performance.")
    )
    if challenge is not None and version == challenge.champion:
        role = "champion"
    elif challenge is not None and version == challenge.challenger:
        role = "challenger"
    else:
        role = "current" if version == model.current_version else "other"
    statuses: dict[str, int] = {}
    for p in points:
        statuses[p.status] = statuses.get(p.status, 0) + 1
    return VersionRow(
        version,
        role,
        merged.windows if merged else 0,
        merged.value if merged else None,
        merged.low if merged else None,
        merged.high if merged else None,
        latest,
        float(reference) if isinstance(reference, (int, float)) else None,
        None if segment else total("ops.count"),  # operational figures are whole-window only
        total("performance.labelled_rows"),
        statuses,
    )


@router.get("/models/{model}/performance", response_class=HTMLResponse)
async def performance_page(model: str, request: Request) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[ModelInfo, TimeRange, Performance]:
        info = page_model(state, model)
        metrics = _metrics(info)
        metric = page_metric(request, info, metrics)
        version = page_version(request, info, None)
        segment, segments = page_segment(request, state, info)
        timerange = page_range(request, state, info)
        shown = performance(
            state,
            info,
            metric=metric,
            metrics=metrics,
            version=version,
            segment=segment,
            segments=segments,
            timerange=timerange,
        )
        return info, timerange, shown

    info, timerange, shown = await run_in_threadpool(read)
    keep = {"metric": shown.metric, "version": shown.version or "", "segment": shown.segment}
    return page(
        request,
        "performance.html.j2",
        viewer=viewer,
        title=f"{info.name} · performance",
        model=info,
        tab="performance",
        timerange=timerange,
        keep={k: v for k, v in keep.items() if v},
        shown=shown,
    )
