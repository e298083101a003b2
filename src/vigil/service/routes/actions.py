"""Action routes: ask for a retrain, read the decisions, the retraining summary and the
challenger's comparison (vigil.alerts.actions; docs/api.md, "Actions")."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from vigil.alerts.actions import Actions, decision_json
from vigil.errors import SpecError
from vigil.service.routes.query import SINCE, _time
from vigil.service.schemas import ERRORS
from vigil.service.state import ApiError, AppState, read_body, state_of
from vigil.store.base import utcnow

router = APIRouter()
MAX_REASON = 1000  # characters
MAX_ACTIONS = 10_000
MAX_BODY = 16 * 1024  # a reason and JSON's quoting of it


class RetrainRequest(BaseModel):
    """Why a person asks for a retrain; it is recorded with the decision."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON)

    @field_validator("reason")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL cannot store NUL in text: refused here rather than failing in the store
        if "\x00" in value:
            raise ValueError("the reason holds a NUL character; remove it")
        return value


def _actions(state: AppState) -> Actions:
    if state.actions is None:
        raise ApiError(
            409,
            "this service has no actions; configure alerts.actions (docs/alerts.md, "
            '"Actions") and restart it.',
            reason="no_actions",
        )
    return state.actions


@router.post(
    "/v1/models/{model}/retrain",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RetrainRequest.model_json_schema()}},
        }
    },
)
async def post_retrain(model: str, request: Request) -> dict[str, Any]:
    """Ask for a retrain now (write scope). The answer is the decision: `taken` with the
    call's `outcome` ("sent" or why it failed), or skipped with the reason (the policy's
    monthly budget, retraining disabled). A manual retrain is not held back by
    `min_interval`."""
    state = state_of(request)
    actor = state.authorize(request, "write")
    actions = _actions(state)
    info = state.model(model)
    try:
        raw = await read_body(request, MAX_BODY)
    except ApiError as err:
        if err.status != 413:
            raise
        raise ApiError(
            413,
            f'the body is larger than {MAX_BODY} bytes; send {{"reason": "..."}} with a reason '
            f"of at most {MAX_REASON} characters.",
            reason="body_too_large",
        ) from None
    try:
        body = RetrainRequest.model_validate(json.loads(raw, object_pairs_hook=_unique))
    except (ValueError, RecursionError) as err:  # pydantic's ValidationError is a ValueError
        first = str(err).splitlines()
        detail = " ".join(line.strip() for line in first[:3]) if first else type(err).__name__
        raise ApiError(
            422,
            f'the body must be JSON {{"reason": "..."}} (1 to {MAX_REASON} characters): '
            f"{detail[:300]}",
            reason="malformed_body",
        ) from None
    record = await run_in_threadpool(actions.retrain_now, info, body.reason, actor)
    return decision_json(record, actor)


@router.get("/v1/models/{model}/actions", responses=ERRORS)
async def get_actions(
    model: str,
    request: Request,
    kind: Literal["retrain", "rollback", "promote"] | None = None,
    since: str | None = Query(None, description="ISO-8601 or epoch seconds; decided at or after"),
    limit: int = Query(100, ge=1, le=MAX_ACTIONS),
) -> dict[str, Any]:
    """The model's action decisions, newest first: taken or skipped, why, on what evidence,
    and how the call went."""
    state = state_of(request)
    state.authorize(request, "read")
    actions = _actions(state)
    since_time = _time(since, "since")
    info = state.model(model)
    records = await run_in_threadpool(
        lambda: actions.history(info, kind=kind, since=since_time, limit=limit)
    )
    return {"model": model, "actions": [decision_json(r) for r in records]}


@router.get("/v1/models/{model}/retrains", responses=ERRORS)
async def get_retrains(model: str, request: Request) -> dict[str, Any]:
    """The last retrain, the next scheduled one, and this month's retrains by trigger."""
    state = state_of(request)
    state.authorize(request, "read")
    actions = _actions(state)
    info = state.model(model)
    s = await run_in_threadpool(actions.summary, info, utcnow())
    return {
        "model": s.model,
        "last_retrain": None
        if s.last_at is None
        else {"at": _iso(s.last_at), "trigger": s.last_trigger},
        "next_scheduled": None if s.next_scheduled is None else _iso(s.next_scheduled),
        "this_month": s.this_month,
        "failed_this_month": s.failed_this_month,
        "skipped_this_month": s.skipped_this_month,
        "monthly_budget": s.monthly_budget,
        "min_interval_seconds": s.min_interval,
    }


@router.get("/v1/models/{model}/challenger", responses=ERRORS)
async def get_challenger(
    model: str,
    request: Request,
    since: str | None = Query(None, description=SINCE + " (default: 7 days before until)"),
    until: str | None = Query(None, description="ISO-8601 or epoch seconds (default: now)"),
) -> dict[str, Any]:
    """The challenger against the champion over [since, until), computed now: the metric on
    both versions, the bootstrap interval of the difference and the verdict."""
    state = state_of(request)
    state.authorize(request, "read")
    actions = _actions(state)
    info = state.model(model)
    if info.name not in actions.settings.challengers:
        raise ApiError(
            404,
            f"model {model!r} has no challenger; configure one under "
            f"alerts.actions.challenger.{model}.",
            reason="no_challenger",
        )
    end = _time(until, "until") or utcnow()
    start = _time(since, "since") or end - timedelta(days=7)
    if start >= end:
        raise ApiError(422, "since must be before until.", reason="bad_query")
    try:
        result = await run_in_threadpool(actions.compare, info, start, end)
    except SpecError as err:
        raise ApiError(422, str(err), reason="bad_challenger") from err
    return result.as_json()


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return out


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"
