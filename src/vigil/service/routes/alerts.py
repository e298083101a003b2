"""Alert routes: alerts and their events and deliveries, acknowledgements and true/false
positive marks, each rule's precision, silences, the outbox's deliveries, and the report of
the window an alert's evidence is from (docs/api.md, "Alerts")."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from starlette.concurrency import run_in_threadpool

from vigil.service.routes.query import MAX_TEXT, _time
from vigil.service.schemas import ERRORS
from vigil.service.silences import (
    MAX_NOTE,
    check_matchers,
    make_silence,
    silence_end,
    storable,
)
from vigil.service.state import ApiError, read_body, state_of
from vigil.store.base import (
    AlertEvent,
    AlertStatus,
    Delivery,
    DeliveryStatus,
    Silence,
    StoredAlert,
    WindowKind,
    utcnow,
)

router = APIRouter()
MAX_ALERTS = 10_000
MAX_BODY = 2**21  # bytes of an ack, verdict or silence body: a comment fits many times over
ID = re.compile(r"[0-9a-fA-F]{32}")
Severity = Literal["warning", "critical"]
TimeValue = StrictStr | StrictInt | StrictFloat


def _filter(value: str | None, name: str) -> str | None:
    """A name given as a query filter, refused (422) when no stored name can hold it."""
    if value is None:
        return None
    try:
        return storable(value, f"{name}={value[:40]!r}")
    except ValueError as err:
        raise ApiError(422, f"{err}.", reason="bad_query") from None


def _id(value: str, what: str) -> str:
    """An id from a path: 32 hex digits, or 404 (no such thing can exist)."""
    if ID.fullmatch(value) is None:
        raise ApiError(
            404,
            f"no {what} {value[:40]!r}: {what} ids are 32 hex digits, as the API lists them.",
            reason=f"unknown_{what}",
        )
    return value.lower()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def _number(value: float | None) -> float | None:
    """A value JSON can carry: infinities and NaN become null."""
    return value if value is not None and math.isfinite(value) else None


def report_link(a: StoredAlert) -> str:
    """Where the report of the window an alert's latest evidence is from is served."""
    start = a.window_start.isoformat() + "Z"
    return (
        f"/v1/models/{quote(a.model, safe='')}/windows/{quote(a.version, safe='')}/"
        f"{a.window_kind}/{start}/report"
    )


def alert_view(a: StoredAlert) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "id": a.id,
        "model": a.model,
        "version": a.version,
        "rule": a.rule,
        "metric": a.metric,
        "severity": a.severity,
        "status": a.status,
        "column": a.column,
        "segment": a.segment,
        "window_kind": a.window_kind,
        "window_start": _iso(a.window_start),
        "window_end": _iso(a.window_end),
        "value": _number(a.value),
        "threshold": _number(a.threshold),
        "baseline": _number(a.baseline),
        "point_status": a.point_status,
        "message": a.message,
        "began": _iso(a.began),
        "opened_at": _iso(a.opened_at),
        "changed": _iso(a.changed),
        "resolved_at": _iso(a.resolved_at),
        "acked_at": _iso(a.acked_at),
        "acked_by": a.acked_by,
        "verdict": a.verdict,
        "verdict_by": a.verdict_by,
        "verdict_at": _iso(a.verdict_at),
        "verdict_note": a.verdict_note,
        "report": report_link(a),
    }


def event_view(e: AlertEvent) -> dict[str, Any]:
    """An alert's event as the API shows it."""
    return {
        "at": _iso(e.at),
        "kind": e.kind,
        "severity": e.severity,
        "value": _number(e.value),
        "threshold": _number(e.threshold),
        "baseline": _number(e.baseline),
        "window_start": _iso(e.window_start),
        "window_end": _iso(e.window_end),
        "message": e.message,
        "actor": e.actor,
    }


def delivery_view(d: Delivery) -> dict[str, Any]:
    """A delivery as the API shows it: the destination's name, never its address or key (the
    delivery holds only the name), and not the notice itself."""
    return {
        "id": d.id,
        "model": d.model,
        "destination": d.destination,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created": _iso(d.created),
        "next_at": _iso(d.next_at),
        "sent_at": _iso(d.sent_at),
        "alerts": list(d.alert_ids),
    }


def silence_view(s: Silence, now: datetime) -> dict[str, Any]:
    """A silence as the API shows it, with where it stands now."""
    if s.starts_at <= now < s.ends_at:
        state = "active"
    else:
        state = "scheduled" if now < s.starts_at else "expired"
    return {
        "id": s.id,
        "matchers": s.matchers,
        "starts_at": _iso(s.starts_at),
        "ends_at": _iso(s.ends_at),
        "state": state,
        "created": _iso(s.created),
        "created_by": s.created_by,
        "comment": s.comment,
    }


# -- request bodies -------------------------------------------------------------------------


class VerdictBody(BaseModel):
    """A person's verdict on an alert."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["true_positive", "false_positive"]
    note: StrictStr | None = Field(None, max_length=MAX_NOTE)

    @field_validator("note")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else storable(value, "note")


class SilenceBody(BaseModel):
    """A silence: alerts matching every matcher are kept but not notified while it lasts."""

    model_config = ConfigDict(extra="forbid")

    matchers: dict[StrictStr, StrictStr] = Field(
        description="rule, model, version, column, segment: an exact value or a glob with *"
    )
    starts_at: TimeValue | None = Field(
        None, description="ISO-8601 or epoch seconds; now when left out"
    )
    ends_at: TimeValue | None = Field(None, description="ISO-8601 or epoch seconds")
    duration: StrictStr | None = Field(None, description="instead of ends_at: 30m, 2h, 7d")
    comment: StrictStr = Field("", max_length=MAX_NOTE)

    @field_validator("matchers")
    @classmethod
    def _known_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return check_matchers(value)

    @field_validator("comment")
    @classmethod
    def _storable(cls, value: str) -> str:
        return storable(value, "comment")


def _body(raw: bytes, shape: type[BaseModel], example: str) -> Any:
    """A JSON body read into `shape`, or 422 naming the field and what was expected."""
    try:
        data = json.loads(raw, object_pairs_hook=_no_repeats)
    except RecursionError:
        raise ApiError(422, "the body is nested too deeply.", reason="malformed_body") from None
    except (ValueError, TypeError) as err:  # not JSON, not UTF-8, a repeated key
        raise ApiError(
            422,
            f"the body must be JSON like {example}: {str(err).splitlines()[0][:200]}",
            reason="malformed_body",
        ) from None
    try:
        return shape.model_validate(data)
    except ValidationError as err:
        parts = []
        for e in err.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ())) or "body"
            parts.append(f"{where[:80]}: {e.get('msg')}")
        raise ApiError(422, "; ".join(parts) + f"; e.g. {example}", reason="bad_body") from None


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return out


def _documented(shape: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (with a size limit)."""
    schema = shape.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# -- alerts ---------------------------------------------------------------------------------


async def _list(
    request: Request,
    model: str | None,
    status: AlertStatus | None,
    severity: Severity | None,
    rule: str | None,
    since: str | None,
    limit: int,
) -> dict[str, Any]:
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    rule = _filter(rule, "rule")
    since_time = _time(since, "since")
    info = None if model is None else state.model(model)
    alerts = await run_in_threadpool(
        lambda: store.read_alerts(
            model=info, status=status, severity=severity, rule=rule, since=since_time, limit=limit
        )
    )
    return {"alerts": [alert_view(a) for a in alerts]}


@router.get("/v1/alerts", responses=ERRORS)
async def list_alerts(
    request: Request,
    model: str | None = Query(None, max_length=MAX_TEXT),
    status: AlertStatus | None = None,
    severity: Severity | None = None,
    rule: str | None = Query(None, max_length=MAX_TEXT),
    since: str | None = Query(None, description="ISO-8601 or epoch seconds; changed at or after"),
    limit: int = Query(100, ge=1, le=MAX_ALERTS),
) -> dict[str, Any]:
    """Alerts, the most recently changed first, filtered by model, status, severity, rule and
    the time of their last change."""
    return await _list(request, model, status, severity, rule, since, limit)


@router.get("/v1/models/{model}/alerts", responses=ERRORS)
async def model_alerts(
    model: str,
    request: Request,
    status: AlertStatus | None = None,
    severity: Severity | None = None,
    rule: str | None = Query(None, max_length=MAX_TEXT),
    since: str | None = Query(None, description="ISO-8601 or epoch seconds; changed at or after"),
    limit: int = Query(100, ge=1, le=MAX_ALERTS),
) -> dict[str, Any]:
    """One model's alerts, as `GET /v1/alerts?model=`."""
    return await _list(request, model, status, severity, rule, since, limit)


@router.get("/v1/alerts/precision", responses=ERRORS)
async def precision(
    request: Request, model: str | None = Query(None, max_length=MAX_TEXT)
) -> dict[str, Any]:
    """Each rule's precision from people's marks: true positives / marked alerts."""
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    info = None if model is None else state.model(model)
    counts = await run_in_threadpool(store.rule_precision, info)
    return {
        "model": model,
        "rules": {
            rule: {
                "true_positive": tp,
                "false_positive": fp,
                "precision": tp / (tp + fp) if tp + fp else None,
            }
            for rule, (tp, fp) in counts.items()
        },
    }


@router.get("/v1/alerts/{alert_id}", responses=ERRORS)
async def get_alert(alert_id: str, request: Request) -> dict[str, Any]:
    """One alert with its events (oldest first) and its deliveries (newest first)."""
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    found = _id(alert_id, "alert")

    def read() -> tuple[StoredAlert | None, list[AlertEvent], list[Delivery]]:
        return (
            store.get_alert(found),
            store.alert_events(found),
            store.read_deliveries(alert_id=found, status=None, limit=MAX_ALERTS),
        )

    alert, events, deliveries = await run_in_threadpool(read)
    if alert is None:
        raise ApiError(404, f"no alert {found}.", reason="unknown_alert")
    return {
        **alert_view(alert),
        "events": [event_view(e) for e in events],
        "deliveries": [delivery_view(d) for d in deliveries],
    }


@router.post("/v1/alerts/{alert_id}/ack", responses=ERRORS)
async def ack(alert_id: str, request: Request) -> dict[str, Any]:
    """Acknowledge an alert: someone is on it. A second acknowledgement keeps the first."""
    state = state_of(request)
    actor = state.authorize(request, "write")
    store = state.store
    found = _id(alert_id, "alert")
    await read_body(request, MAX_BODY)  # any body is ignored, but not read without a bound
    alert = await run_in_threadpool(lambda: store.ack_alert(found, actor=actor, at=utcnow()))
    if alert is None:
        raise ApiError(404, f"no alert {found}.", reason="unknown_alert")
    return alert_view(alert)


@router.post(
    "/v1/alerts/{alert_id}/verdict", responses=ERRORS, openapi_extra=_documented(VerdictBody)
)
async def verdict(alert_id: str, request: Request) -> dict[str, Any]:
    """Mark an alert a true or a false positive; a later mark replaces the verdict."""
    state = state_of(request)
    actor = state.authorize(request, "write")
    store = state.store
    found = _id(alert_id, "alert")
    raw = await read_body(request, min(MAX_BODY, state.settings.limits.max_body))
    body: VerdictBody = _body(raw, VerdictBody, '{"verdict": "false_positive", "note": "..."}')
    alert = await run_in_threadpool(
        lambda: store.mark_alert(found, body.verdict, actor=actor, note=body.note, at=utcnow())
    )
    if alert is None:
        raise ApiError(404, f"no alert {found}.", reason="unknown_alert")
    return alert_view(alert)


@router.get("/v1/models/{model}/windows/{version}/{kind}/{start}/report", responses=ERRORS)
async def window_report(
    model: str, version: str, kind: WindowKind, start: str, request: Request
) -> Response:
    """The report of one window (an alert's `report` link): a tumbling window by its start,
    the version's rolling window as last computed (whatever the start)."""
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    version = _filter(version, "version") or ""
    start_time = _time(start, "start")
    assert start_time is not None  # a path parameter is never missing
    info = state.model(model)
    found = await run_in_threadpool(store.window_report, info, version, kind, start_time)
    if found is None:
        raise ApiError(
            404,
            f"model {model!r} has no computed {kind} window of version {version[:40]!r} "
            f"starting at {start[:40]}; GET /v1/models/{model}/windows lists them.",
            reason="no_window",
        )
    key, report = found
    headers = {
        "X-Vigil-Window-Start": key.start.isoformat() + "Z",
        "X-Vigil-Window-End": key.end.isoformat() + "Z",
        "X-Vigil-Version": quote(key.version, safe=""),
    }
    return Response(report, media_type="application/json", headers=headers)


# -- silences -------------------------------------------------------------------------------


def _body_time(value: str | int | float, name: str) -> datetime:
    moment = _time(str(value), name)
    assert moment is not None
    return moment


@router.post(
    "/v1/silences", status_code=201, responses=ERRORS, openapi_extra=_documented(SilenceBody)
)
async def add_silence(request: Request) -> dict[str, Any]:
    """Silence alerts matching every matcher from `starts_at` (now) until `ends_at` (or for
    `duration`); one starting later is a maintenance window."""
    state = state_of(request)
    actor = state.authorize(request, "write")
    store = state.store
    raw = await read_body(request, min(MAX_BODY, state.settings.limits.max_body))
    example = (
        '{"matchers": {"rule": "psi-*", "model": "fraud"}, "duration": "2h", "comment": "..."}'
    )
    body: SilenceBody = _body(raw, SilenceBody, example)
    now = utcnow()
    starts = now if body.starts_at is None else _body_time(body.starts_at, "starts_at")
    if (body.ends_at is None) == (body.duration is None):
        raise ApiError(
            422,
            f"give either ends_at or duration, not both nor neither; e.g. {example}",
            reason="bad_body",
        )
    try:
        if body.duration is not None:
            ends = silence_end(starts, body.duration)
        else:
            assert body.ends_at is not None
            ends = _body_time(body.ends_at, "ends_at")
        silence = make_silence(
            body.matchers, starts=starts, ends=ends, now=now, actor=actor, comment=body.comment
        )
    except ValueError as err:
        raise ApiError(422, str(err), reason="bad_body") from None
    await run_in_threadpool(store.add_silence, silence)
    return silence_view(silence, now)


@router.get("/v1/silences", responses=ERRORS)
async def list_silences(
    request: Request,
    active: bool | None = Query(
        None, description="true: in force now; false: not in force now (ended or to come)"
    ),
) -> dict[str, Any]:
    """Silences, the latest to start first: all of them, or those in force now (or not)."""
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    now = utcnow()
    every = await run_in_threadpool(lambda: store.list_silences(active_at=None))
    shown = [s for s in every if active is None or active == (s.starts_at <= now < s.ends_at)]
    return {"silences": [silence_view(s, now) for s in shown]}


@router.delete("/v1/silences/{silence_id}", responses=ERRORS)
async def delete_silence(silence_id: str, request: Request) -> dict[str, Any]:
    """End a silence (or cancel a maintenance window) by deleting it."""
    state = state_of(request)
    state.authorize(request, "write")
    store = state.store
    found = _id(silence_id, "silence")
    if not await run_in_threadpool(store.delete_silence, found):
        raise ApiError(
            404, f"no silence {found}; GET /v1/silences lists them.", reason="unknown_silence"
        )
    return {"deleted": found}


# -- deliveries -----------------------------------------------------------------------------


@router.get("/v1/deliveries", responses=ERRORS)
async def deliveries(
    request: Request,
    status: DeliveryStatus | None = None,
    alert: str | None = Query(None, max_length=64, description="an alert id"),
    limit: int = Query(100, ge=1, le=MAX_ALERTS),
) -> dict[str, Any]:
    """Notices in the outbox, the newest first: pending, sent, or failed (with why)."""
    state = state_of(request)
    state.authorize(request, "read")
    store = state.store
    if alert is not None and ID.fullmatch(alert) is None:
        raise ApiError(
            422, f"alert={alert[:40]!r} is not an alert id (32 hex digits).", reason="bad_query"
        )
    alert_id = None if alert is None else alert.lower()
    found = await run_in_threadpool(
        lambda: store.read_deliveries(alert_id=alert_id, status=status, limit=limit)
    )
    return {"deliveries": [delivery_view(d) for d in found]}
