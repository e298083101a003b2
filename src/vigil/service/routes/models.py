"""Model routes: register models and versions, store their reference sets."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from vigil.deployment import reference_parquet, register
from vigil.errors import ConflictError, InputError, NotEnoughData, SpecError
from vigil.ingest.decode import body_format, decode_table
from vigil.measure.reading import Dataset
from vigil.service.schemas import ERRORS, ModelRegistration, ModelView
from vigil.service.state import ApiError, AppState, read_body, state_of
from vigil.spec import spec_from_dict
from vigil.spec.schema import name_problem
from vigil.store.base import ModelInfo

router = APIRouter()


def model_view(state: AppState, model: ModelInfo) -> dict[str, Any]:
    """A model as the API shows it."""
    references = state.store.reference_versions(model)
    return {
        "name": model.name,
        "current_version": model.current_version,
        "versions": list(model.specs),
        "references": {v: rows for v, (rows, _) in references.items()},
        "columns": [{"name": c.name, "role": c.role, "storage": c.storage} for c in model.columns],
        "created": model.created.isoformat() + "Z",
    }


@router.post("/v1/models", status_code=201, response_model=ModelView, responses=ERRORS)
async def post_model(request: Request) -> dict[str, Any]:
    """Register a model, or a new version of one (its spec in the YAML file's shape)."""
    state = state_of(request)
    state.authorize(request, "admin")
    body = await read_body(request, state.settings.limits.max_body)
    try:
        data = json.loads(body, object_pairs_hook=_strict_pairs)
        registration = ModelRegistration.model_validate(data)
    except RecursionError:
        raise ApiError(
            422, "the body is nested too deeply to be a model registration.", reason="bad_spec"
        ) from None
    except (ValueError, TypeError) as err:
        raise ApiError(
            422,
            f'the body must be JSON {{"name": ..., "version": ..., "spec": {{...}}}}: '
            f"{str(err).splitlines()[0]}",
            reason="malformed_body",
        ) from err
    for value, what in ((registration.name, "model name"), (registration.version, "version")):
        problem = name_problem(value, what)
        if problem is not None:
            raise ApiError(422, problem, reason="bad_name")
    try:
        spec = spec_from_dict(registration.spec, source="spec")
    except SpecError as err:
        raise ApiError(422, str(err), reason="bad_spec") from err
    try:
        model = await run_in_threadpool(
            register, state.store, state.monitor, registration.name, registration.version, spec
        )
    except ConflictError as err:
        raise ApiError(409, str(err), reason="conflict") from err
    except SpecError as err:  # more columns than the store's tables can hold
        raise ApiError(422, str(err), reason="bad_spec") from err
    return model_view(state, model)


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return out


@router.get("/v1/models", response_model=list[ModelView], responses=ERRORS)
async def list_models(request: Request) -> list[dict[str, Any]]:
    """Every registered model."""
    state = state_of(request)
    state.authorize(request, "read")
    models = await run_in_threadpool(state.store.list_models)
    return [model_view(state, m) for m in models]


@router.get("/v1/models/{model}", response_model=ModelView, responses=ERRORS)
async def get_model(model: str, request: Request) -> dict[str, Any]:
    """One model, its versions and the references it has."""
    state = state_of(request)
    state.authorize(request, "read")
    return model_view(state, state.model(model))


@router.put(
    "/v1/models/{model}/reference",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in (
                    "application/vnd.apache.parquet",
                    "application/vnd.apache.arrow.stream",
                    "text/csv",
                )
            }
            | {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
        }
    },
)
async def put_reference(model: str, request: Request, version: str | None = None) -> dict[str, Any]:
    """Store the reference (training) set of a version: Parquet, Arrow IPC, CSV or JSON rows.

    The set is conformed to the version's spec as `vigil report` conforms a reference
    (`vigil.measure.reference`): what one refuses, the other refuses, with the same reason.
    """
    state = state_of(request)
    state.authorize(request, "admin")
    info = state.model(model)
    version = version or info.current_version
    if version not in info.specs:
        raise ApiError(
            404,
            f"model {model!r} has no version {version!r}; versions: {', '.join(info.specs)}.",
            reason="unknown_version",
        )
    spec, _ = state.layout(info, version)
    fmt = body_format(request.headers.get("content-type"))
    if fmt is None:
        raise ApiError(
            415,
            "send the reference as Parquet, Arrow IPC, CSV or JSON rows.",
            reason="unsupported_type",
        )
    body = await read_body(request, state.settings.limits.max_body)
    try:
        table = await run_in_threadpool(
            _table_from_body, body, fmt, state.settings.limits.max_reference_bytes
        )
        parquet, rows = await run_in_threadpool(reference_parquet, Dataset(table, "upload"), spec)
    except InputError as err:
        raise ApiError(422, str(err), reason="malformed_body") from err
    except (SpecError, NotEnoughData) as err:
        raise ApiError(422, str(err), reason="bad_reference") from err
    await run_in_threadpool(state.store.put_reference, info, version, parquet, rows)
    return {
        "model": model,
        "version": version,
        "rows": rows,
        "columns": table.column_names,
    }


def _table_from_body(body: bytes, fmt: str, max_decoded: int) -> pa.Table:
    if fmt == "json":
        try:
            rows = json.loads(body, object_pairs_hook=_strict_pairs)
        except ValueError as err:
            raise InputError(f"the body is not valid JSON: {err}") from err
        except RecursionError as err:  # CPython's parser guards its own recursion depth
            raise InputError(
                "the JSON nests too deeply; a JSON reference is a list of flat row objects."
            ) from err
        if isinstance(rows, dict) and isinstance(rows.get("records"), list):
            rows = rows["records"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError("a JSON reference is a list of row objects (column: value).")
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise InputError(f"the rows do not form a table: {str(err).splitlines()[0]}") from err
        except UnicodeEncodeError as err:  # "\ud800": a lone surrogate, valid JSON, not text
            raise InputError(
                f"the rows hold a lone surrogate ({err.object[err.start : err.end]!r}), which "
                f"is not Unicode text; send the text as UTF-8."
            ) from err
        except OverflowError as err:
            raise InputError(
                "the rows do not form a table: an integer is beyond 64 bits; "
                "send it as a float or a string."
            ) from err
    else:
        table = decode_table(  # a small Parquet file can hold gigabytes of repeated values
            body,
            fmt,  # type: ignore[arg-type]
            max_decoded=max_decoded,
            limit="limits.max_reference_bytes",
        )
    names = table.column_names
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"the reference repeats the column {twice[0]!r}; name each column once.")
    return table
