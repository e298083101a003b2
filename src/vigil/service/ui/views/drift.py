"""Drift over time: a heatmap of columns × windows (or steps) coloured by each cell's worst
judged drift measure, most-drifted columns first, and the same as tables for readers without
canvas. A cell opens the feature's page on that window (`?window=<the cell's start>`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import STATUS_INDEX, heatmap_chart
from vigil.service.ui.render import href, page, page_model
from vigil.service.ui.selection import Selection, select
from vigil.service.ui.session import page_viewer
from vigil.service.ui.views.attribution import AttributionView, read_attribution
from vigil.service.ui.views.multivariate import MultivariateView, read_multivariate
from vigil.store.base import ModelInfo
from vigil.store.dashboard import HeatCell

router = APIRouter(include_in_schema=False)
ROW_HEIGHT = 24  # pixels per heatmap row: labels stay readable with 200 columns
DRIFTED = ("warning", "critical")


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One column of the heatmap: how it drifted over the range, and in its latest step."""

    column: str
    role: str  # feature, score, prediction, target (or extra: a column the spec lacks)
    worst: str  # the worst status of its steps in the range
    drifted_steps: int  # steps at warning or critical
    steps: int  # steps with a judged point
    latest: HeatCell | None  # its cell in the range's latest step; None when it has none there


@dataclass(frozen=True, slots=True)
class DriftView:
    """What the drift page shows."""

    rows: tuple[DriftRow, ...]  # most drifted first, then by name
    chart: dict[str, Any] | None  # None when no window is judged in the range
    latest_start: datetime | None  # the range's latest step
    versions: tuple[str, ...]
    segments: tuple[str, ...]
    attribution: AttributionView | None = None  # None: no window carries attributions
    multivariate: MultivariateView | None = None  # None: no window of the range measured it


def iso(moment: datetime) -> str:
    """A stored (naive UTC) time as the `window=` parameter writes it."""
    return moment.isoformat() + "Z"


def roles_of(state: AppState, model: ModelInfo, version: str | None) -> dict[str, str]:
    """Each column's role in the version's spec (the current version's when None)."""
    spec = state.layout(model, version or model.current_version)[0]
    return {c.name: c.role for c in spec.columns}


def feature_href(model: ModelInfo, column: str, selection: Selection, **extra: str) -> str:
    """The feature page of `column` with the page's range, version and segment kept."""
    query = {**selection.timerange.query(), **selection.keep(), **extra}
    return href("/models", model.name, "features", column, **query)


def drift_rows(cells: list[HeatCell], roles: dict[str, str]) -> list[DriftRow]:
    """The heatmap's rows: most drifted first (worst status, then most drifted steps), then
    by name."""
    latest = max((c.start for c in cells), default=None)
    by_column: dict[str, list[HeatCell]] = {}
    for cell in cells:
        by_column.setdefault(cell.column, []).append(cell)
    rows = []
    for column, own in by_column.items():
        worst = max(own, key=lambda c: STATUS_INDEX[c.status]).status
        rows.append(
            DriftRow(
                column,
                roles.get(column, "extra"),
                worst,
                sum(1 for c in own if c.status in DRIFTED),
                len(own),
                next((c for c in own if c.start == latest), None),
            )
        )
    rows.sort(key=lambda r: (-STATUS_INDEX[r.worst], -r.drifted_steps, r.column))
    return rows


def _no_href(cell: HeatCell) -> str:
    return ""


def _window_href(model: ModelInfo, column: str, selection: Selection) -> str:
    """The column's feature page, ending in `window=` for a cell's start to be appended."""
    base = feature_href(model, column, selection)
    return base + ("&" if "?" in base else "?") + "window="


def row_label(row: DriftRow) -> str:
    """A heatmap row's label: the column, and its role when it is not a feature."""
    return row.column if row.role == "feature" else f"{row.column} [{row.role}]"


def read_drift(state: AppState, model: ModelInfo, selection: Selection) -> DriftView:
    """The heatmap's cells, grouped by the range's step in one query, and its rows."""
    timerange = selection.timerange
    cells = state.store.heatmap(
        model,
        segment=selection.segment,
        version=selection.version,
        since=timerange.since,
        until=timerange.until,
        step_seconds=timerange.step_seconds,
    )
    rows = drift_rows(cells, roles_of(state, model, selection.version))
    chart = None
    if cells:
        chart = heatmap_chart(cells, rows=[r.column for r in rows], href=_no_href)
        for cell in chart["cells"]:
            cell[6] = None
        # one link a row, the cell's start appended in the browser (dashboard.js, cellHref):
        # 200 columns × a year of windows would otherwise carry a URL per cell
        chart["rowHrefs"] = [_window_href(model, r.column, selection) for r in rows]
        labels = [row_label(r) for r in rows]
        chart["rows"] = labels  # shown; the cells were placed by column name
        chart["labelWidth"] = min(320, max(120, 7 * max(len(s) for s in labels) + 24))
        chart["height"] = max(220, ROW_HEIGHT * len(rows) + 90)
    return DriftView(
        tuple(rows),
        chart,
        max((c.start for c in cells), default=None),
        tuple(sorted(model.specs)),
        tuple(state.store.segments(model)),
        read_attribution(state, model, selection),
        _multivariate(state, model, selection),
    )


def _multivariate(
    state: AppState, model: ModelInfo, selection: Selection
) -> MultivariateView | None:
    timerange = selection.timerange

    def series(metric: str) -> list[Any]:
        return state.store.series(
            model,
            metric=metric,
            segment=selection.segment,
            version=selection.version,
            since=timerange.since,
            until=timerange.until,
            step_seconds=timerange.step_seconds,
        )

    found = state.store.latest_report(model, selection.version)
    report = json.loads(found[1]) if found and found[1] else {}
    return read_multivariate(series, report if isinstance(report, dict) else {})


@router.get("/models/{model}/drift", response_class=HTMLResponse)
async def drift_page(
    request: Request,
    model: str,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    step: str | None = None,
    version: str | None = None,
    segment: str | None = None,
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[ModelInfo, Selection, DriftView]:
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
        return info, selection, read_drift(state, info, selection)

    info, selection, view = await run_in_threadpool(read)
    return page(
        request,
        "drift.html.j2",
        viewer=viewer,
        title=f"Drift · {info.name}",
        model=info,
        tab="drift",
        timerange=selection.timerange,
        keep=selection.keep(),
        selection=selection,
        view=view,
        drifted=[r for r in view.rows if r.latest is not None and r.latest.status in DRIFTED],
        feature_href=lambda column, **extra: feature_href(info, column, selection, **extra),
        iso=iso,
    )
