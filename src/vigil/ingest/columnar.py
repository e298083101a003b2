"""The SDK's columnar bodies as Arrow tables: JSON (`application/vnd.vigil.columns+json`) and
Arrow IPC (`application/vnd.vigil.columns+arrow`, sent when the caller has pyarrow loaded).

The SDK's fast body: one JSON array per field instead of one object per record, parsed by
orjson and turned into Arrow arrays column by column, with no walk over the records. Its shape
keeps the grouping of JSON records, so the client needs no spec:

    {"columns": {"id": [...], "timestamp": [...], "prediction": [...], "score": [...], ...},
     "features": {"age": [...], ...}, "segments": {"region": [...]},
     "attributions": {"age": [...], ...}}

A label body has only `columns` (`id`, `label`, `timestamp`). The Arrow form is one IPC stream
whose fields are named `group:name` (`columns:id`, `features:age`), validated in full before
anything reads it. Every array has the same length,
one value per record. The table made here has the flat names of a Parquet or Arrow body
(`prediction` and `score` become the spec's prediction and score columns), so it goes through
the same table checks (`vigil.ingest.tables`), which reject bad records one by one. What makes
the whole body unreadable (not JSON, a repeated key, ragged or nested columns, a column mixing
types) is an InputError naming the column.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc

from vigil.errors import InputError
from vigil.ingest.layout import Layout
from vigil.spec import ATTRIBUTION_COLUMN

__all__ = ["COLUMNS_ARROW", "COLUMNS_JSON", "ColumnsKind", "decode_column_stream", "decode_columns"]

ColumnsKind = Literal["predictions", "labels"]

COLUMNS_JSON = "application/vnd.vigil.columns+json"
COLUMNS_ARROW = "application/vnd.vigil.columns+arrow"
GROUPS = ("columns", "features", "segments", "attributions")
FIELDS: dict[ColumnsKind, tuple[str, ...]] = {
    "predictions": (
        "id",
        "timestamp",
        "model_version",
        "latency_ms",
        "error",
        "prediction",
        "score",
    ),
    "labels": ("id", "label", "timestamp"),
}
_PLAIN = {str, int, float, bool, type(None)}
_SCALAR = (pa.types.is_null, pa.types.is_boolean, pa.types.is_int64, pa.types.is_float64)


def decode_columns(body: bytes, layout: Layout, kind: ColumnsKind) -> pa.Table:
    """A columnar JSON body of `kind` ("predictions" or "labels") as a flat Arrow table."""
    if not body.strip():
        raise InputError('the body is empty; send {"columns": {"id": [...], ...}}.')
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:  # bad UTF-8, surrogates, NaN, depth, huge numbers
        raise InputError(f"the body is not readable as columnar JSON: {err}.") from err
    groups = _groups(doc, kind)
    _refuse_repeated_keys(body, len(doc) + sum(len(columns) for columns in groups.values()))
    names: list[str] = []
    arrays: list[pa.Array] = []
    rows: int | None = None
    for group, columns in groups.items():
        for name, values in columns.items():
            where = name if group == "columns" else f"{group}.{name}"
            if rows is None:
                rows = len(values)
            elif len(values) != rows:
                raise InputError(
                    f"column {where!r} has {len(values)} values, the columns before it {rows}; "
                    "every column holds one value per record."
                )
            names.append(_flat_name(group, name, layout))
            arrays.append(_array(values, where))
    if rows is None:
        raise InputError('the body has no columns; send {"columns": {"id": [...], ...}}.')
    return pa.Table.from_arrays(arrays, names=names)


def decode_column_stream(body: bytes, layout: Layout, kind: ColumnsKind) -> pa.Table:
    """A columnar Arrow IPC stream of `kind` as a flat Arrow table (the same names as JSON)."""
    if not body:
        raise InputError("the columnar Arrow body is empty.")
    try:
        table = ipc.open_stream(pa.py_buffer(body)).read_all()
        table.validate(full=True)  # offsets, lengths, UTF-8: before any kernel reads it
    except (pa.ArrowException, OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"the body is not readable as a columnar Arrow stream: {first}.") from err
    allowed = GROUPS if kind == "predictions" else GROUPS[:1]
    names: list[str] = []
    for field in table.schema:
        group, sep, name = field.name.partition(":")
        if not sep or group not in allowed:
            raise InputError(
                f"field {field.name!r}: columnar Arrow fields are named group:name with the "
                f"group one of {', '.join(allowed)}."
            )
        if group == "columns" and name not in FIELDS[kind]:
            raise InputError(f'"columns" of {kind} takes {", ".join(FIELDS[kind])}; got {name!r}.')
        if not (pa.types.is_string(field.type) or any(test(field.type) for test in _SCALAR)):
            raise InputError(
                f"column {field.name!r}: values of type {field.type}; a column holds numbers, "
                "strings or booleans (and nulls)."
            )
        names.append(_flat_name(group, name, layout))
    if not names:
        raise InputError("the columnar Arrow body has no columns.")
    return table.rename_columns(names)


def _groups(doc: Any, kind: ColumnsKind) -> dict[str, dict[str, list[Any]]]:
    allowed = GROUPS if kind == "predictions" else GROUPS[:1]
    if type(doc) is not dict or "columns" not in doc or not set(doc) <= set(allowed):
        raise InputError(
            f"the body must be a JSON object with the key(s) {', '.join(allowed)} "
            f'("columns" required); got {_shape(doc)}.'
        )
    out: dict[str, dict[str, list[Any]]] = {}
    for group in allowed:
        columns = doc.get(group, {})
        if type(columns) is not dict:
            raise InputError(f'"{group}" must be an object of columns; got {_shape(columns)}.')
        for name, values in columns.items():
            if type(values) is not list or not set(map(type, values)) <= _PLAIN:
                raise InputError(
                    f'column {name!r} in "{group}" must be a list of numbers, strings, booleans '
                    "or nulls; nested values are not taken."
                )
        out[group] = columns
    unknown = sorted(set(out["columns"]) - set(FIELDS[kind]))
    if unknown:
        raise InputError(
            f'"columns" of {kind} takes {", ".join(FIELDS[kind])}; got {", ".join(unknown)}.'
        )
    return out


def _refuse_repeated_keys(body: bytes, kept: int) -> None:
    """orjson keeps the last of repeated keys silently: count the keys written.

    Values are arrays of scalars, so when no quote is followed by a space, every key ends in
    `":` and any other `":` sits inside a string: as many as the keys kept proves no key was
    repeated. Otherwise the body is parsed again,
    keeping every pair, to say which key was repeated. `kept`: the keys orjson kept.
    """
    loose = sum(body.count(b'"' + space) for space in (b" ", b"\t", b"\n", b"\r"))
    if loose == 0 and body.count(b'":') == kept:  # no `" :`: every key ends in `":`
        return
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        repeated.extend(sorted({k for k in keys if keys.count(k) > 1}))
        return dict(items)

    json.loads(body, object_pairs_hook=pairs)  # orjson read it, so this does too
    if repeated:
        raise InputError(f"the body repeats the key(s) {', '.join(repeated)}.")


def _flat_name(group: str, name: str, layout: Layout) -> str:
    if group == "attributions":  # checked as the flat table's `__attr__<feature>` column
        return ATTRIBUTION_COLUMN + name
    if group != "columns":
        return name
    if name == "prediction" and layout.prediction is not None:
        return layout.prediction[0]
    if name == "score" and None in layout.scores:
        return layout.scores[None]
    return name


def _array(values: list[Any], where: str) -> pa.Array:
    try:
        array = pa.array(values)
    except (pa.ArrowException, OverflowError) as err:
        raise InputError(
            f"column {where!r}: values of mixed or unsupported types ({err}); a column holds "
            "numbers, strings or booleans (and nulls), one kind per column."
        ) from err
    if pa.types.is_string(array.type) or any(test(array.type) for test in _SCALAR):
        return array
    raise InputError(
        f"column {where!r}: values of type {array.type}; a column holds numbers, strings or "
        "booleans (and nulls), one kind per column, integers within 64 bits."
    )


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "an object with the keys " + ", ".join(map(repr, sorted(value)[:10]))
    return f"a JSON {type(value).__name__}"
