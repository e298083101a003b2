"""Query routes: metric time series, windows and their failures, the latest window's report,
the quarantine, evaluate now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vigil.ingest.validate import iso_time
from vigil.service.schemas import ERRORS
from vigil.service.state import ApiError, AppState, state_of
from vigil.store.base import ModelInfo, WindowState

router = APIRouter()
MAX_POINTS = 100_000
MAX_WINDOWS = 100_000
MAX_TEXT = 1000  # characters of a name in a filter; no stored name is longer
SINCE = "ISO-8601 or epoch seconds; a window starting at this time is included"
UNTIL = "ISO-8601 or epoch seconds; a window starting at this time is excluded"


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = iso_time(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed
    except (ValueError, OverflowError):  # OverflowError: a zone pushing it past year 1 or 9999
        pass
    try:
        return datetime(1970, 1, 1) + timedelta(seconds=float(value))
    except (ValueError, OverflowError):
        raise ApiError(
            422,
            f"{name}={value[:40]!r} is not a time; use ISO-8601 (2026-11-23T10:00:00Z) "
            f"or epoch seconds, between the years 1 and 9999.",
            reason="bad_query",
        ) from None


def _text(value: str | None, name: str) -> str | None:
    """A name given as a filter; NUL, which no stored name can hold, is refused."""
    if value is not None and "\x00" in value:
        raise ApiError(
            422,
            f"{name}={value[:40]!r} holds a NUL character, which no name in vigil can hold; "
            f"remove it.",
            reason="bad_query",
        )
    return value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


@router.get("/v1/models/{model}/metrics", responses=ERRORS)
async def get_metrics(
    model: str,
    request: Request,
    metric: str | None = Query(None, max_length=MAX_TEXT),
    column: str | None = Query(None, max_length=MAX_TEXT),
    segment: str | None = Query(
        None, max_length=MAX_TEXT, description='"" (default) is the whole window'
    ),
    version: str | None = Query(None, max_length=MAX_TEXT),
    kind: Literal["tumbling", "rolling"] | None = None,
    since: str | None = Query(None, description=SINCE),
    until: str | None = Query(None, description=UNTIL),
    limit: int = Query(10_000, ge=1, le=MAX_POINTS),
) -> dict[str, Any]:
    """Metric points over time, filtered; each with window start/end, value, status and band
    (a performance metric's standard error of change).

    `since` and `until` bound the window start: `since <= start < until`.
    """
    state = state_of(request)
    state.authorize(request, "read")
    metric, column = _text(metric, "metric"), _text(column, "column")
    segment, version = _text(segment, "segment"), _text(version, "version")
    since_time, until_time = _time(since, "since"), _time(until, "until")
    info = state.model(model)
    points = await run_in_threadpool(
        lambda: state.store.read_points(
            info,
            metric=metric,
            column=column,
            segment="" if segment is None else segment,
            version=version,
            kind=kind,
            since=since_time,
            until=until_time,
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
                "band": p.band,
            }
            for p in points
        ],
    }


def _window(state: AppState, model: ModelInfo, window: WindowState) -> dict[str, Any]:
    """A window as the API shows it: the time it covers, where it stands, its failure."""
    key = window.key
    span = state.monitor.span(model.name, key)
    if window.is_failed:
        status = "failed"
    elif window.is_dirty:
        status = "due"
    else:
        status = "computed"
    return {
        "version": key.version,
        "kind": key.kind,
        "start": _iso(span.start),
        "end": _iso(span.end),
        "state": status,
        "rows": window.rows,
        "labelled": window.labelled,
        "computed_at": _iso(window.computed_at),
        "failures": window.failures,
        "last_error": window.last_error,
        "retry_at": _iso(window.retry_at),
    }


@router.get("/v1/models/{model}/windows", responses=ERRORS)
async def list_windows(
    model: str,
    request: Request,
    failed: bool = Query(False, description="only the windows whose last computation failed"),
    version: str | None = Query(None, max_length=MAX_TEXT),
    kind: Literal["tumbling", "rolling"] | None = None,
    since: str | None = Query(None, description=SINCE),
    until: str | None = Query(None, description=UNTIL),
    limit: int = Query(1000, ge=1, le=MAX_WINDOWS),
) -> dict[str, Any]:
    """The model's windows, newest first: span, state (computed, due, failed), rows, and for a
    failed one how many times in a row, why, and when it is tried next."""
    state = state_of(request)
    state.authorize(request, "read")
    version = _text(version, "version")
    since_time, until_time = _time(since, "since"), _time(until, "until")
    info = state.model(model)
    windows = await run_in_threadpool(
        lambda: state.store.read_windows(
            info,
            version=version,
            kind=kind,
            failed=failed,
            since=since_time,
            until=until_time,
            limit=limit,
        )
    )
    # with `rolling: off` the rolling window is kept but never computed: not shown
    rolling = state.monitor.plan_for(info.name).rolling_seconds is not None
    shown = [w for w in windows if rolling or w.key.kind == "tumbling"]
    return {"model": model, "windows": [_window(state, info, w) for w in shown]}


@router.get("/v1/models/{model}/windows/latest", responses=ERRORS)
async def latest_window(
    model: str, request: Request, version: str | None = Query(None, max_length=MAX_TEXT)
) -> Response:
    """The latest computed window's full report, in the schema of `vigil report --json`."""
    state = state_of(request)
    state.authorize(request, "read")
    version = _text(version, "version")
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
async def evaluate_now(
    model: str,
    request: Request,
    retry_failed: bool = Query(
        False, description="also retry the windows that failed, before their retry time"
    ),
) -> dict[str, Any]:
    """Compute this model's due windows now instead of at the next scheduler tick."""
    state = state_of(request)
    state.authorize(request, "write")
    info = state.model(model)
    summary = await run_in_threadpool(
        lambda: state.monitor.tick(models=[info.name], retry_failed=retry_failed)
    )
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
