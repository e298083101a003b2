"""Request bodies to records or tables: JSON, Parquet, Arrow IPC, CSV.

JSON is parsed strictly: duplicate keys and the non-standard NaN/Infinity literals are kept as
markers so that validation can reject the one record that carries them, with a reason, instead
of silently keeping the last value or a NaN.
"""

from __future__ import annotations

import io
import json
import re
import sys
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

BodyFormat = Literal["json", "parquet", "arrow", "csv"]
CONTENT_TYPES: dict[str, BodyFormat] = {
    "application/json": "json",
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


class HugeNumber(str):
    """The text of a JSON integer too long to convert (more digits than any float holds)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record holding a value no column can take (a lone surrogate, a number beyond the range
    of a float), in place of the record; validation rejects it with `reason`."""

    record: Any  # as parsed, for the quarantine
    id: str | None  # the record's id when it is plain text
    reason: str


_FLOAT_MAX = int(sys.float_info.max)
_MAX_INT_DIGITS = 310  # 1.8e308 has 309 digits: longer integers are beyond a float


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
    if not all(type(record) is dict for record in records):
        return None
    kept = len(doc) + sum(map(len, records))
    for part in ("features", "segments", "score"):
        kept += sum(len(v) for v in [r.get(part) for r in records] if type(v) is dict)
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
        doc = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=NonFinite, parse_int=_parse_int
        )
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
    for i, record in enumerate(records):
        reason = _unreadable(record, i)
        if reason is not None:
            records[i] = Unreadable(record, _plain_id(record), reason)
    return records


def _parse_int(text: str) -> int | HugeNumber:
    """An integer of the JSON text; one longer than any float is kept as text, never converted
    (Python refuses to convert more than 4,300 digits, and the whole body would fail)."""
    return int(text) if len(text) < _MAX_INT_DIGITS else HugeNumber(text)


def _shown(text: str) -> str:
    """Text with its lone surrogates written as escapes, safe to put in an answer."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _unreadable(record: Any, index: int) -> str | None:
    """Why no column can take a value of the record (parsed by `json`), or None.

    Only the careful path needs this: orjson refuses lone surrogates and numbers beyond a
    float, so a body it read holds neither. The walk keeps its own stack (no recursion).
    """
    stack: list[tuple[str, Any]] = [("", record)]
    while stack:
        where, value = stack.pop()
        kind = type(value)
        if kind is dict:
            for name, item in value.items():
                if name is DUPLICATE:
                    continue
                path = f"{where}.{name}" if where else str(name)
                if type(name) is str and not _is_unicode(name):
                    named = f"{where}.{_shown(name)}" if where else f"record {index}"
                    return (
                        f"{named}: the field name {_shown(name)!r} holds a lone surrogate; "
                        "expected valid Unicode text (UTF-8)"
                    )
                stack.append((path, item))
        elif kind is list:
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        else:
            problem = _bad_scalar(value)
            if problem is not None:
                return f"{where or f'record {index}'}: {problem}"
    return None


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_scalar(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        if _is_unicode(value):
            return None
        return f"{_shown(value[:40])!r} holds a lone surrogate; expected valid Unicode text (UTF-8)"
    if kind is HugeNumber:
        return (
            f"a number of {len(value.lstrip('-'))} digits is beyond the range of a 64-bit float; "
            "expected a number within ±1.8e308"
        )
    if kind is int and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return (
            f"a number of {len(str(abs(value)))} digits is beyond the range of a 64-bit float; "
            "expected a number within ±1.8e308"
        )
    if kind is float and value in (float("inf"), float("-inf")):
        return "a number beyond the range of a 64-bit float; expected a number within ±1.8e308"
    return None


def _plain_id(record: Any) -> str | None:
    if type(record) is not dict:
        return None
    value = record.get("id")
    if type(value) is str and 0 < len(value) <= 256 and _is_unicode(value) and "\x00" not in value:
        return value
    return None


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
