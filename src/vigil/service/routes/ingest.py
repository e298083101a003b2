"""Ingest routes: predictions and labels, as JSON records or flat tables."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from vigil.errors import InputError
from vigil.ingest.columnar import COLUMNS_JSON, ColumnsKind, decode_column_stream, decode_columns
from vigil.ingest.decode import body_format, decode_json, decode_table
from vigil.ingest.layout import Layout
from vigil.ingest.tables import validate_label_table, validate_prediction_table
from vigil.ingest.validate import (
    Validated,
    refuse_columns,
    validate_labels,
    validate_predictions,
)
from vigil.service.counters import reason_of
from vigil.service.schemas import ERRORS, LABEL_RECORD, PREDICTION_RECORD, IngestAnswer, batch_body
from vigil.service.state import ApiError, AppState, read_body, state_of
from vigil.service.writer import Overloaded
from vigil.store.base import ModelInfo, RecordKind, WriteResult

router = APIRouter()


async def _decode(
    request: Request, state: AppState, layout: Layout, kind: ColumnsKind
) -> tuple[list[Any] | None, Any]:
    fmt = body_format(request.headers.get("content-type"))
    if fmt is None:
        raise ApiError(
            415,
            f"content type {request.headers.get('content-type')!r} is not read here; send "
            f"application/json, {COLUMNS_JSON}, application/vnd.apache.parquet, "
            f"application/vnd.apache.arrow.stream or text/csv.",
            reason="unsupported_type",
        )
    body = await read_body(request, state.settings.limits.max_body)
    try:
        if fmt == "json":
            records = await run_in_threadpool(decode_json, body)
            if not records:
                raise InputError('"records" is empty; send at least one record.')
            _check_batch_size(len(records), state)
            return records, None
        if fmt == "columns":
            table = await run_in_threadpool(decode_columns, body, layout, kind)
        elif fmt == "columns_arrow":
            table = await run_in_threadpool(decode_column_stream, body, layout, kind)
        else:
            table = await run_in_threadpool(
                decode_table,
                body,
                fmt,
                max_rows=state.settings.limits.max_pending_records,
                max_decoded=state.settings.limits.max_body,
            )
        if table.num_rows == 0:
            raise InputError(f"the {fmt} body has no rows.")
        _check_batch_size(table.num_rows, state)
        return None, table
    except InputError as err:
        raise ApiError(422, str(err), reason="malformed_body") from err


def _check_batch_size(n: int, state: AppState) -> None:
    """A batch the writer's queue could never hold is refused, not answered 503 forever."""
    limit = state.settings.limits.max_pending_records
    if n > limit:
        raise ApiError(
            413,
            f"the batch holds {n:,} records; one request takes at most {limit:,} "
            f"(limits.max_pending_records): send smaller batches.",
            reason="batch_too_large",
        )


async def _store(
    state: AppState, model: ModelInfo, kind: RecordKind, checked: Validated, prefix: str = ""
) -> WriteResult:
    if checked.extras:
        limit = state.settings.limits.max_extra_columns
        model = await run_in_threadpool(state.store.add_extra_columns, model, checked.extras, limit)
        refused = [name for name in checked.extras if model.column(name) is None]
        if refused:
            await run_in_threadpool(refuse_columns, checked, refused, kind, limit, prefix)
    plan = state.monitor.plan_for(model.name)
    try:
        future = state.writer.submit(
            model, kind, checked.table, checked.quarantined, window_seconds=plan.size_seconds
        )
    except Overloaded as err:
        retry = str(state.settings.limits.retry_after)
        raise ApiError(
            503,
            f"the service is busy ({err}); retry after {retry} s.",
            reason="overloaded",
            headers={"Retry-After": retry},
        ) from err
    return await asyncio.wrap_future(future)


def _answer(
    state: AppState, model: ModelInfo, kind: RecordKind, checked: Validated, result: WriteResult
) -> dict[str, Any]:
    records = state.counters.records
    for outcome, n in (
        ("accepted", result.accepted),
        ("duplicate", result.duplicates),
        ("conflict", result.conflicts),
        ("rejected", len(checked.rejected)),
        ("pending", result.pending),
    ):
        if n:
            records.labels(model.name, kind, outcome).inc(n)
    for rejection in checked.rejected:
        state.counters.rejections.labels(model.name, kind, reason_of(rejection.errors[0])).inc()
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "conflicts": result.conflicts,
        "conflict_ids": list(result.conflict_ids[:100]),
        "pending": result.pending,
        "rejected": [
            {"index": r.index, "id": r.id, "errors": list(r.errors)} for r in checked.rejected
        ],
    }


@router.post(
    "/v1/models/{model}/predictions",
    response_model=IngestAnswer,
    responses=ERRORS,
    openapi_extra=batch_body(PREDICTION_RECORD),
    summary="Log predictions (features, outputs, latency, errors)",
)
async def post_predictions(model: str, request: Request) -> dict[str, Any]:
    """Store prediction records; bad records are rejected one by one with reasons."""
    state = state_of(request)
    state.authorize(request, "write")
    info = state.model(model)
    _, layout = state.layout(info, info.current_version)
    records, table = await _decode(request, state, layout, "predictions")
    versions = list(info.specs)
    rules = state.time_rules()
    if records is not None:
        checked = await run_in_threadpool(
            validate_predictions, records, layout, versions, info.current_version, rules
        )
    else:
        checked = await run_in_threadpool(
            validate_prediction_table, table, layout, versions, info.current_version, rules
        )
    prefix = "features." if records is not None else ""
    result = await _store(state, info, "prediction", checked, prefix)
    return _answer(state, info, "prediction", checked, result)


@router.post(
    "/v1/models/{model}/labels",
    response_model=IngestAnswer,
    responses=ERRORS,
    openapi_extra=batch_body(LABEL_RECORD),
    summary="Log ground-truth labels, joined to predictions by id",
)
async def post_labels(model: str, request: Request) -> dict[str, Any]:
    """Store labels; a label may arrive before its prediction and waits for it."""
    state = state_of(request)
    state.authorize(request, "write")
    info = state.model(model)
    _, layout = state.layout(info, info.current_version)
    if layout.target is None or info.label_storage is None:
        raise ApiError(
            409,
            f"model {model!r} has no target column in its spec, so it takes no labels; "
            f"add a column with `role: target` and register the version again.",
            reason="no_target",
        )
    records, table = await _decode(request, state, layout, "labels")
    rules = state.time_rules()
    if records is not None:
        checked = await run_in_threadpool(validate_labels, records, layout, rules)
    else:
        checked = await run_in_threadpool(validate_label_table, table, layout, rules)
    result = await _store(state, info, "label", checked)
    return _answer(state, info, "label", checked, result)
