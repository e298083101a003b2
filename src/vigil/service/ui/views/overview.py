"""A model's overview: one page of cards that answers "is my model fine?".

Every card reads the page's time range; "now" is the latest window in it, so a range ending
before a change shows the model as it was then. A card's colour is never decided here: it is
the worst status the verdict gave the card's points in that window, or the severity of an
alert firing on the card's metrics; a figure nothing judges is shown grey ("not judged").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.service.state import AppState, state_of
from vigil.service.ui.render import PageError, page, page_model
from vigil.service.ui.session import page_viewer
from vigil.service.ui.timerange import TimeRange, model_range
from vigil.service.ui.views.attribution import attribution_card
from vigil.service.ui.views.cards import (
    WHOLE,
    AlertLine,
    Card,
    CardReader,
    balance_card,
    drift_card,
    fairness_card,
    latency_card,
    missing_card,
    performance_card,
    retrain_card,
    sla_card,
    volume_card,
    window_report,
)
from vigil.service.ui.views.multivariate import multivariate_card
from vigil.store.base import ModelInfo

router = APIRouter(include_in_schema=False)
MAX_PARAM = 200  # characters of a query parameter; no name or time vigil shows is longer


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
    reader = CardReader(state, model, version, timerange)
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
    attribution = attribution_card(reader, report, mine)  # None: no window carries attributions
    fairness = fairness_card(reader, report, mine)
    return Overview(
        version,
        versions,
        latest,
        tuple(performance_card(reader, v, in_range) for v in with_data),
        (
            drift_card(reader, report, mine),
            *filter(None, [multivariate_card(reader, report, mine)]),
            balance_card(report),
            missing_card(reader, latest and latest[0], mine),
            volume_card(reader, mine),
            latency_card(reader, mine, slas),
            sla_card(reader, slas, latest and latest[1]),
            retrain_card(state, model),
            *([attribution] if attribution is not None else []),
            *([fairness] if fairness is not None else []),
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
