"""Request bodies to records or tables: JSON, Parquet, Arrow IPC, CSV (columnar JSON: `columnar`).

JSON is parsed strictly: duplicate keys and the non-standard NaN/Infinity literals are kept as
markers so that validation can reject the one record that carries them, with a reason, instead
of silently keeping the last value or a NaN.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from vigil.errors import InputError
from vigil.json_value import NonFinite, json_type

BodyFormat = Literal["json", "columns", "columns_arrow", "parquet", "arrow", "csv"]
CONTENT_TYPES: dict[str, BodyFormat] = {
    "application/json": "json",
    "application/vnd.vigil.columns+json": "columns",  # the SDK's; see vigil.ingest.columnar
    "application/vnd.vigil.columns+arrow": "columns_arrow",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/x-arrow": "arrow",
    "text/csv": "csv",
}


class DuplicateKeys:
    """Marker key added to a JSON object that repeated a key; its value names the keys."""


DUPLICATE = DuplicateKeys()


def body_format(content_type: str | None) -> BodyFormat | None:
    """The body format named by a Content-Type header (parameters ignored), or None."""
    if not content_type:
        return None
    return CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())


@dataclass(frozen=True, slots=True)
class Decoded:
    """A body as JSON records or as a flat table."""

    records: list[Any] | None
    table: pa.Table | None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = dict(pairs)
    if len(out) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        out[DUPLICATE] = sorted(k for k, n in counts.items() if n > 1)
    return out


_KEY_END = re.compile(rb'"\s*:')


def _decode_fast(body: bytes, key: str) -> list[Any] | None:
    """The records via orjson when the body is plain, or None to take the careful path.

    orjson keeps the last of repeated keys silently, so the keys it kept are counted and
    compared with the key ends (`"` then `:`) in the text: those are at least as many as the
    keys written (a string value can hold one, never hide one), so equal counts prove that no
    key was repeated and that no value nests an object.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN, huge integers, bad UTF-8, deep nesting, bad JSON
        return None
    if type(doc) is not dict or type(doc.get(key)) is not list:
        return None
    records: list[Any] = doc[key]
    kept = len(doc)
    for record in records:
        if type(record) is not dict:
            return None
        kept += len(record)
        for part in ("features", "segments", "score"):
            value = record.get(part)
            if type(value) is dict:
                kept += len(value)
    if body.count(b'":') == kept or len(_KEY_END.findall(body)) == kept:
        return records
    return None


def decode_json(body: bytes, *, key: str = "records") -> list[Any]:
    """The `records` list of a JSON body; InputError saying what is wrong otherwise."""
    if not body.strip():
        raise InputError('the body is empty; send {"records": [...]}.')
    fast = _decode_fast(body, key)
    if fast is not None:
        return fast
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"the body is not UTF-8 text: {err.reason} at byte {err.start}.") from err
    try:
        doc = json.loads(text, object_pairs_hook=_pairs, parse_constant=NonFinite)
    except json.JSONDecodeError as err:
        raise InputError(
            f"the body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}."
        ) from err
    except RecursionError as err:  # CPython's parser guards its own recursion depth
        raise InputError(
            "the JSON nests too deeply; records are flat: feature values are numbers, "
            "strings, booleans or null."
        ) from err
    if not isinstance(doc, dict) or key not in doc:
        raise InputError(f'the body must be a JSON object {{"{key}": [...]}}.')
    if DUPLICATE in doc:
        raise InputError(f"the body repeats the key(s) {', '.join(doc[DUPLICATE])}.")
    records = doc[key]
    if not isinstance(records, list):
        raise InputError(f'"{key}" must be a list of objects; got {json_type(records)}.')
    return records


def decode_table(body: bytes, fmt: BodyFormat) -> pa.Table:
    """A Parquet, Arrow IPC or CSV body as an Arrow table."""
    if not body:
        raise InputError(f"the {fmt} body is empty.")
    try:
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(body))
        if fmt == "arrow":
            try:
                return ipc.open_stream(pa.py_buffer(body)).read_all()
            except pa.ArrowInvalid:
                return ipc.open_file(pa.py_buffer(body)).read_all()
        if fmt == "csv":
            table = pacsv.read_csv(io.BytesIO(body))
            # the reader checks values for UTF-8 but not the header: reading the names does
            return table.rename_columns(table.column_names)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"the body is not readable as {fmt}: {first}.") from err
    raise InputError(f"bodies in {fmt} are read as records, not as a table.")
