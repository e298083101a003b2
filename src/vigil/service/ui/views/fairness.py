"""Fairness over time: one measure per protected attribute with its noise band and levels,
and the groups' rates in the latest window of the range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import bars_chart, line, series_chart
from vigil.service.ui.render import PageError, page, page_model, protected_columns
from vigil.service.ui.session import page_viewer
from vigil.service.ui.timerange import TimeRange
from vigil.service.ui.views.cards import (
    CardReader,
    fairness_levels,
    window_report,
)
from vigil.service.ui.views.overview import checked_param, page_range, page_version
from vigil.spec.types import FAIRNESS_MEASURES, LABELLED_FAIRNESS, RATIO_FAIRNESS
from vigil.store.base import ModelInfo

router = APIRouter(include_in_schema=False)
RATES = ("selection_rate", "tpr", "fpr")


@dataclass(frozen=True, slots=True)
class Attribute:
    """One protected attribute: the measure over time, and its groups now."""

    column: str
    chart: dict[str, Any]
    groups: dict[str, Any] | None  # a bars chart of the latest window's rates, None: no window
    counts: tuple[tuple[str, int, bool], ...]  # (group, rows, compared)
    latest: dict[str, Any] | None  # the measure in the latest window, as the report has it


@dataclass(frozen=True, slots=True)
class Fairness:
    """What the fairness page shows."""

    measure: str
    measures: tuple[str, ...]
    version: str
    higher_is_fairer: bool
    labelled: bool
    attributes: tuple[Attribute, ...]
    reason: str | None  # why the latest window measured nothing


def page_measure(request: Request) -> str:
    """The `measure=` of the URL (422 when it is not a fairness measure), or disparate impact."""
    asked = checked_param("measure", request.query_params.get("measure"))
    if asked in (None, ""):
        return "disparate_impact"
    name = asked.removeprefix("fairness.")
    if name not in FAIRNESS_MEASURES:
        raise PageError(
            422,
            f"measure={asked!r} is not a fairness measure; use one of "
            f"{', '.join(FAIRNESS_MEASURES)}.",
        )
    return name


def fairness(
    state: AppState, model: ModelInfo, *, measure: str, version: str, timerange: TimeRange
) -> Fairness:
    """The fairness page's charts, read grouped from the store and the latest report."""
    reader = CardReader(state, model, version, timerange)
    latest = reader.latest_window(version)
    report = window_report(state, model, version, latest and latest[0])
    found = report.get("fairness") or {}
    min_size = found.get("min_group_size") or 0
    levels = fairness_levels(model, version, measure)
    attributes = []
    for column in protected_columns(model, version):
        points = reader.series(f"fairness.{measure}", column=column)
        chart = series_chart(
            [line(column, points, band="se")], unit=measure, thresholds=levels, zero=True
        )
        entry = (found.get("attributes") or {}).get(column) or {}
        groups = entry.get("groups") or {}
        names = sorted(groups)
        bars = None
        if names:
            bars = bars_chart(
                names,
                [(rate, [groups[g].get(rate) for g in names]) for rate in RATES],
                unit="share of the group's rows",
                rotate=30 if max(len(n) for n in names) > 10 else 0,
            )
        counts = tuple(
            (g, int(groups[g].get("rows") or 0), int(groups[g].get("rows") or 0) >= min_size)
            for g in names
        )
        latest_measure = (entry.get("measures") or {}).get(measure)
        attributes.append(Attribute(column, chart, bars, counts, latest_measure))
    return Fairness(
        measure,
        FAIRNESS_MEASURES,
        version,
        measure in RATIO_FAIRNESS,
        measure in LABELLED_FAIRNESS,
        tuple(attributes),
        found.get("reason"),
    )


@router.get("/models/{model}/fairness", response_class=HTMLResponse)
async def fairness_page(model: str, request: Request) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[ModelInfo, TimeRange, Fairness]:
        info = page_model(state, model)
        measure = page_measure(request)
        version = page_version(request, info, info.current_version) or info.current_version
        timerange = page_range(request, state, info)
        return (
            info,
            timerange,
            fairness(state, info, measure=measure, version=version, timerange=timerange),
        )

    info, timerange, shown = await run_in_threadpool(read)
    keep = {"measure": shown.measure}
    if shown.version != info.current_version:
        keep["version"] = shown.version
    return page(
        request,
        "fairness.html.j2",
        viewer=viewer,
        title=f"{info.name} · fairness",
        model=info,
        tab="fairness",
        timerange=timerange,
        keep=keep,
        shown=shown,
    )
