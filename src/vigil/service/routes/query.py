"""Query routes: metric time series, the latest window's report, the quarantine, evaluate now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vigil.ingest.validate import iso_time
from vigil.service.schemas import ERRORS
from vigil.service.state import ApiError, state_of

router = APIRouter()
MAX_POINTS = 100_000


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = iso_time(value)
    except ValueError:
        try:
            return datetime(1970, 1, 1) + timedelta(seconds=float(value))
        except (ValueError, OverflowError):
            raise ApiError(
                422,
                f"{name}={value!r} is not a time; use ISO-8601 (2026-11-23T10:00:00Z) "
                f"or epoch seconds.",
                reason="bad_query",
            ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@router.get("/v1/models/{model}/metrics", responses=ERRORS)
async def get_metrics(
    model: str,
    request: Request,
    metric: str | None = None,
    column: str | None = None,
    segment: str | None = Query(None, description='"" (default) is the whole window'),
    version: str | None = None,
    kind: Literal["tumbling", "rolling"] | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(10_000, ge=1, le=MAX_POINTS),
) -> dict[str, Any]:
    """Metric points over time, filtered; each with window start/end, value and status."""
    state = state_of(request)
    state.authorize(request, "read")
    info = state.model(model)
    points = await run_in_threadpool(
        lambda: state.store.read_points(
            info,
            metric=metric,
            column=column,
            segment="" if segment is None else segment,
            version=version,
            kind=kind,
            since=_time(since, "since"),
            until=_time(until, "until"),
            limit=limit,
        )
    )
    return {
        "model": model,
        "points": [
            {
                "version": p.version,
                "kind": p.kind,
                "segment": p.segment,
                "start": p.start.isoformat() + "Z",
                "end": p.end.isoformat() + "Z",
                "metric": p.metric,
                "column": p.column,
                "value": p.value,
                "status": p.status,
            }
            for p in points
        ],
    }


@router.get("/v1/models/{model}/windows/latest", responses=ERRORS)
async def latest_window(model: str, request: Request, version: str | None = None) -> Response:
    """The latest computed window's full report, in the schema of `vigil report --json`."""
    state = state_of(request)
    state.authorize(request, "read")
    info = state.model(model)
    found = await run_in_threadpool(state.store.latest_report, info, version)
    if found is None:
        raise ApiError(
            404,
            f"model {model!r} has no computed window yet; log predictions, give the version "
            f"a reference, and POST /v1/models/{model}/evaluate (or wait for the scheduler).",
            reason="no_window",
        )
    key, report = found
    headers = {
        "X-Vigil-Window-Start": key.start.isoformat() + "Z",
        "X-Vigil-Window-End": key.end.isoformat() + "Z",
        "X-Vigil-Version": key.version,
    }
    return Response(report, media_type="application/json", headers=headers)


@router.get("/v1/models/{model}/quarantine", responses=ERRORS)
async def quarantine(
    model: str,
    request: Request,
    limit: int = Query(100, ge=1, le=10_000),
    since: str | None = None,
) -> dict[str, Any]:
    """Rejected records with their reasons, newest first."""
    state = state_of(request)
    state.authorize(request, "read")
    info = state.model(model)
    since_time = _time(since, "since")
    rows = await run_in_threadpool(
        lambda: state.store.read_quarantine(info, limit=limit, since=since_time)
    )
    return {"model": model, "records": rows}


@router.post("/v1/models/{model}/evaluate", responses=ERRORS)
async def evaluate_now(model: str, request: Request) -> dict[str, Any]:
    """Compute this model's due windows now instead of at the next scheduler tick."""
    state = state_of(request)
    state.authorize(request, "write")
    info = state.model(model)
    summary = await run_in_threadpool(state.monitor.tick, models=[info.name])
    return {
        "computed": [
            {
                "version": r.key.version,
                "kind": r.key.kind,
                "start": r.key.start.isoformat() + "Z",
                "end": r.key.end.isoformat() + "Z",
                "rows": r.rows,
                "labelled": r.labelled,
                "status": None if r.report is None else r.report.status,
            }
            for r in summary.computed
        ],
        "skipped": summary.skipped,
        "failed": summary.failed,
    }
