"""The first page: every model's health at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.service.state import AppState, state_of
from vigil.service.ui.render import page, worst
from vigil.service.ui.session import page_viewer
from vigil.store.base import ModelInfo

router = APIRouter(include_in_schema=False)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model's line on the first page."""

    name: str
    versions: tuple[str, ...]
    health: str  # the worst status of each version's latest window; pending before any
    firing: int  # alerts firing
    pending: int  # alerts waiting for their `for:`
    last_prediction: datetime | None
    last_label: datetime | None
    per_day: float | None  # predictions per day over the last 7 days of windows
    labelled: float | None  # share of those predictions labelled so far
    latest_window: datetime | None


def model_row(state: AppState, model: ModelInfo) -> ModelRow:
    """The figures of one model's line, read from the store."""
    store = state.store
    latest = store.latest_points(model)
    judged = [p.status for p in latest if p.status != "none"]
    health = worst(judged) if judged else "pending"
    alerts = store.read_alerts(
        model=model, status=None, severity=None, rule=None, since=None, limit=10_000
    )
    firing = sum(1 for a in alerts if a.status == "firing")
    pending = sum(1 for a in alerts if a.status == "pending")
    prediction, label = store.received_times(model)
    span = store.window_span(model)
    per_day = labelled = None
    if span is not None:
        since = max(span.first_start, span.latest_end - 7 * DAY)
        counts = store.series(model, metric="ops.count", since=since, step_seconds=None)
        labels = store.series(model, metric="ops.labelled", since=since, step_seconds=None)
        total = sum(p.value or 0.0 for p in counts)
        days = max((span.latest_end - since) / DAY, 1 / 24)
        per_day = total / days
        labelled = sum(p.value or 0.0 for p in labels) / total if total else None
    return ModelRow(
        model.name,
        tuple(sorted(model.specs)),
        health,
        firing,
        pending,
        prediction,
        label,
        per_day,
        labelled,
        None if span is None else span.latest_end,
    )


@router.get("/", response_class=HTMLResponse)
async def models_page(request: Request) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> list[ModelRow]:
        return [model_row(state, m) for m in sorted(state.store.list_models(), key=_name)]

    rows = await run_in_threadpool(read)
    return page(request, "models.html.j2", viewer=viewer, title="Models", rows=rows)


def _name(model: ModelInfo) -> str:
    return model.name
