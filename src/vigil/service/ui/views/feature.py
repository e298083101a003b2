"""One column's page: its reference and window distributions (the window's stored report),
each drift measure over time with its threshold and control limits, and its quality shares
over time.

The window shown is the one `?window=<time>` names — the worst judged window starting in
[time, time + the page's step) (a heatmap cell's start), over every version unless `version`
is given — or else the worst of the range's latest step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.ingest.validate import iso_time
from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import STATUS_INDEX
from vigil.service.ui.render import PageError, href, page, page_model
from vigil.service.ui.selection import Selection, select, text_parameter
from vigil.service.ui.session import page_viewer
from vigil.service.ui.views.drift import iso
from vigil.service.ui.views.measures import (
    MeasureChart,
    control_limits,
    distribution_of,
    drift_charts,
    no_limits,
    quality_charts,
)
from vigil.spec import Spec
from vigil.spec.types import Threshold
from vigil.store.base import ModelInfo
from vigil.store.dashboard import Moments, SeriesPoint

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ShownWindow:
    """The window whose distributions the page shows."""

    version: str
    start: datetime
    end: datetime
    status: str  # the column's drift status there
    report: dict[str, Any] | None  # the window's stored report (None: not stored)


@dataclass(frozen=True, slots=True)
class FeatureView:
    """What the feature page shows."""

    column: str
    role: str
    kind: str
    method: str
    levels: Threshold
    window: ShownWindow | None
    distribution: dict[str, Any] | None  # labels, reference, current (shares)
    distribution_chart: dict[str, Any] | None
    drift: dict[str, Any] | None  # the window report's drift entry of the column
    quality: dict[str, Any] | None  # and its quality entry
    measures: tuple[MeasureChart, ...]
    quality_charts: tuple[MeasureChart, ...]
    versions: tuple[str, ...]
    segments: tuple[str, ...]


def known_column(state: AppState, model: ModelInfo, column: str, version: str) -> Spec:
    """The spec of `version` when it judges `column`'s drift; a 404 page naming a few
    columns it does otherwise."""
    spec = state.layout(model, version)[0]
    drifting = [c.name for c in spec.drift_columns]
    if column not in drifting:
        few = ", ".join(repr(c) for c in sorted(drifting)[:12])
        raise PageError(
            404,
            f"Model {model.name!r} (version {version}) has no drift-checked column "
            f"{column[:80]!r}. Its columns include: {few}.",
        )
    return spec


def window_time(value: str | None) -> datetime | None:
    """The `window=` parameter as a stored (naive UTC) time; 422 when it is not a time."""
    text = text_parameter("window", value)
    if not text:
        return None
    try:
        return iso_time(text)  # naive UTC, as the store keeps times
    except (ValueError, OverflowError):
        raise PageError(
            422, f"window={text[:40]!r} is not a time; write e.g. 2026-11-23T06:00:00Z."
        ) from None


def pick_window(points: Sequence[SeriesPoint], current: str) -> SeriesPoint | None:
    """The worst of some windows' points; the latest among equals, the current version's
    among those."""
    if not points:
        return None
    return max(points, key=lambda p: (STATUS_INDEX[p.status], p.start, p.version == current))


def shown_window(
    state: AppState,
    model: ModelInfo,
    selection: Selection,
    *,
    column: str,
    decider: str,
    latest: SeriesPoint | None,
    named: datetime | None,
) -> ShownWindow | None:
    """The window the page shows (see the module's docstring)."""
    timerange = selection.timerange
    span = timedelta(seconds=timerange.step_seconds or selection.plan.size_seconds)
    start = named if named is not None else None if latest is None else latest.start
    if start is None:
        return None
    span = min(span, datetime.max - start)  # a window named at the end of time: no overflow
    candidates = state.store.series(
        model,
        metric=decider,
        column=column,
        segment=selection.segment,
        version=selection.version,
        since=start,
        until=start + span,
        step_seconds=None,
    )
    chosen = pick_window(candidates, model.current_version)
    if chosen is None:
        raise PageError(
            404,
            f"No judged window of {column[:80]!r} starts between {iso(start)} and "
            f"{iso(start + span)}; pick a window from the charts or the heatmap.",
        )
    found = state.store.window_report(model, chosen.version, "tumbling", chosen.start)
    report = None if found is None else json.loads(found[1])
    return ShownWindow(chosen.version, chosen.start, chosen.end, chosen.status, report)


def drift_levels(spec: Spec, column: str) -> tuple[str, Threshold]:
    """The column's drift method and its levels in the spec."""
    col = spec.column(column)
    return col.effective_method, col.thresholds()


def read_feature(
    state: AppState,
    model: ModelInfo,
    selection: Selection,
    column: str,
    named: datetime | None,
) -> FeatureView:
    """Everything the page shows, in five reads: the column's series (one grouped query),
    the shown window's points and report, and the earlier windows' moments."""
    timerange = selection.timerange
    spec = known_column(state, model, column, selection.version or model.current_version)
    method, _ = drift_levels(spec, column)
    decider = f"drift.{method}"
    series = state.store.column_series(
        model,
        column=column,
        prefixes=("drift.", "quality.", "detect."),  # detect.*: the stream detectors' marks
        segment=selection.segment,
        version=selection.version,
        since=timerange.since,
        until=timerange.until,
        step_seconds=timerange.step_seconds,
    )
    decided = series.get(decider, [])
    latest_start = max((p.start for p in decided), default=None)
    latest = pick_window([p for p in decided if p.start == latest_start], model.current_version)
    window = shown_window(
        state, model, selection, column=column, decider=decider, latest=latest, named=named
    )
    if window is not None and window.version in model.specs:
        spec = known_column(state, model, column, window.version)
    method, levels = drift_levels(spec, column)
    role = spec.column(column).role
    report = None if window is None else window.report
    drift = None if report is None else report.get("drift", {}).get("columns", {}).get(column)
    quality = None if report is None else report.get("quality", {}).get("columns", {}).get(column)
    if window is None:
        earlier: dict[str, Moments] = {}
    else:
        earlier = state.store.column_moments(
            model,
            column=column,
            version=window.version,
            segment=selection.segment,
            since=timerange.since,
            until=window.start,
        )

    def link(point: SeriesPoint) -> str:
        query = {**timerange.query(), **selection.keep(), "window": iso(point.start)}
        return href("/models", model.name, "features", column, **query)

    limits = (
        control_limits(
            state,
            model,
            selection,
            column=column,
            role=role,
            version=window.version,
            start=window.start,
            earlier=earlier,
        )
        if window is not None
        else no_limits
    )
    distribution, distribution_chart = distribution_of(drift)
    return FeatureView(
        column,
        role,
        spec.column(column).kind,
        method,
        levels,
        window,
        distribution,
        distribution_chart,
        drift,
        quality,
        tuple(
            drift_charts(
                series,
                method=method,
                levels=levels,
                alpha=spec.drift.alpha,
                limits=limits,
                link=link,
            )
        ),
        tuple(quality_charts(spec, series, quality, link)),
        tuple(sorted(model.specs)),
        tuple(state.store.segments(model)),
    )


@router.get("/models/{model}/features/{column:path}", response_class=HTMLResponse)
async def feature_page(
    request: Request,
    model: str,
    column: str,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    step: str | None = None,
    version: str | None = None,
    segment: str | None = None,
    window: str | None = None,
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[ModelInfo, Selection, FeatureView]:
        info = page_model(state, model)
        selection = select(
            state,
            info,
            last=last,
            since=since,
            until=until,
            step=step,
            version=version,
            segment=segment,
        )
        return info, selection, read_feature(state, info, selection, column, window_time(window))

    info, selection, view = await run_in_threadpool(read)
    keep = selection.keep()
    if view.window is not None and window:
        keep["window"] = iso(view.window.start)
    return page(
        request,
        "feature.html.j2",
        viewer=viewer,
        title=f"{view.column} · {info.name}",
        model=info,
        tab="drift",
        timerange=selection.timerange,
        keep=keep,
        selection=selection,
        view=view,
        iso=iso,
    )
