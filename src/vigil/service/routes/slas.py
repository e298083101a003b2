"""The SLAs route: each SLA covering a model, its latest window per version, and its error
budget over 7 and 30 days, read from the stored `sla.met` and `sla.objective` points."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.alerts.sla import SLA, budget
from vigil.service.schemas import ERRORS
from vigil.service.state import ApiError, AppState, state_of
from vigil.store.base import MetricPoint, ModelInfo

router = APIRouter()
BUDGET_DAYS = (7, 30)
MAX_TEXT = 1000  # characters of a name in a filter; no stored name is longer
MAX_POINTS = 10_000_000  # a month of one-second windows; the read is never cut short below it


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def _met(value: float | None) -> bool | None:
    return None if value is None else value == 1.0


def _read(
    state: AppState, info: ModelInfo, metric: str, column: str, version: str | None, since: datetime
) -> list[MetricPoint]:
    return state.store.read_points(
        info,
        metric=metric,
        column=column,
        segment="",
        version=version,
        kind="tumbling",
        since=since,
        until=None,
        limit=MAX_POINTS,
    )


def _sla(
    state: AppState, info: ModelInfo, sla: SLA, version: str | None, now: datetime
) -> dict[str, Any]:
    """One SLA as the route shows it."""
    size = timedelta(seconds=state.monitor.plan_for(info.name).size_seconds)
    since = now - timedelta(days=max(BUDGET_DAYS)) - size  # windows ending in the last 30 days
    points = _read(state, info, "sla.met", sla.name, version, since)
    latest: dict[str, MetricPoint] = {}
    for p in points:  # oldest first: the last one of a version is its latest window
        latest[p.version] = p
    values: dict[tuple[str, str, datetime], MetricPoint] = {}
    if latest:
        first = min(p.start for p in latest.values())
        for objective in sla.objectives:
            column = f"{sla.name}:{objective.metric}"
            for p in _read(state, info, "sla.objective", column, version, first):
                values[(p.version, objective.metric, p.start)] = p
    windows = []
    for v, p in sorted(latest.items()):
        objectives = []
        for objective in sla.objectives:
            found = values.get((v, objective.metric, p.start))
            objectives.append(
                {
                    "metric": objective.metric,
                    "value": None if found is None else found.value,
                    "status": "pending" if found is None else found.status,
                }
            )
        windows.append(
            {
                "version": v,
                "start": _iso(p.start),
                "end": _iso(p.end),
                "met": _met(p.value),
                "status": p.status,
                "objectives": objectives,
            }
        )
    budgets = {}
    for days in BUDGET_DAYS:
        spent = asdict(budget(points, sla, now, days))
        spent.pop("sla")
        budgets[f"{days}d"] = spent
    return {
        "name": sla.name,
        "target": sla.target,
        "objectives": [{"metric": o.metric, "op": o.op, "level": o.level} for o in sla.objectives],
        "latest": windows,
        "budgets": budgets,
    }


@router.get("/v1/models/{model}/slas", responses=ERRORS)
async def get_slas(
    model: str,
    request: Request,
    version: str | None = Query(None, max_length=MAX_TEXT, description="only this version"),
) -> dict[str, Any]:
    """Each SLA covering the model (`alerts.slas` in the config): its objectives, the latest
    judged window of each version (met, breached or pending, with each objective's value),
    and its error budget over the windows that ended in the last 7 and 30 days."""
    state = state_of(request)
    state.authorize(request, "read")
    if version is not None and "\x00" in version:
        raise ApiError(
            422,
            f"version={version[:40]!r} holds a NUL character, which no name in vigil can hold; "
            f"remove it.",
            reason="bad_query",
        )
    info = state.model(model)
    now = state.monitor.clock()
    slas = [s for s in state.settings.alerts.slas if s.covers(info.name)]
    shown = await run_in_threadpool(lambda: [_sla(state, info, s, version, now) for s in slas])
    return {"model": info.name, "now": _iso(now), "slas": shown}
