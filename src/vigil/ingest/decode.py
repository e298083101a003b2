"""Request bodies to records or tables: JSON, Parquet, Arrow IPC, CSV (columnar JSON: `columnar`).

JSON is parsed strictly: duplicate keys and the non-standard NaN/Infinity literals are kept as
markers so that validation can reject the one record that carries them, with a reason, instead
of silently keeping the last value or a NaN.
"""

from __future__ import annotations

import io
import json
import re
import struct
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
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


def decode_table(
    body: bytes,
    fmt: BodyFormat,
    *,
    max_rows: int | None = None,
    max_decoded: int | None = None,
    limit: str = "limits.max_body",
) -> pa.Table:
    """A Parquet, Arrow IPC or CSV body as an Arrow table, checked in full.

    Readers of Arrow IPC and Parquet trust the offsets, lengths and bytes they are given, and a
    compute kernel run over a forged offset reads past its buffer (a crash of the process, not
    an error). So every column is validated in full here, before anything computes on it:
    offsets and lengths within their buffers, dictionary indices within their dictionary, and
    string columns valid UTF-8. A body that fails is an InputError naming the column.

    With `max_rows`, a body holding more rows is refused before its columns are decoded: a
    Parquet file of a few hundred kilobytes may declare fifty million repeated values (about
    400 MB once read), so its row count is taken from its footer first, and an Arrow stream
    is read batch by batch. With `max_decoded`, an Arrow body whose compressed buffers (LZ4 or
    ZSTD) would decompress to more bytes is refused before any is decompressed: each
    compressed buffer states its length in its first 8 bytes (a 5 KB body may state 160 MB);
    and a table whose dictionary-coded text would take more once decoded is refused too (a
    Parquet body's text columns are read dictionary-coded for that). `limit` is the setting
    that `max_decoded` comes from, named in the refusal.
    """
    if not body:
        raise InputError(f"the {fmt} body is empty.")
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(io.BytesIO(body))
            _check_rows(parquet.metadata.num_rows, max_rows, fmt)
            schema = parquet.schema_arrow
            if max_decoded is not None:  # text stays dictionary-coded until measured
                _check_fixed_width(parquet.metadata.num_rows, schema, max_decoded, limit)
                texts = [f.name for f in parquet.schema_arrow if _is_bytes(f.type)]
                parquet = pq.ParquetFile(io.BytesIO(body), read_dictionary=texts)
            table = parquet.read()
        elif fmt == "arrow":
            if max_decoded is not None:
                _check_decoded(body, max_decoded, limit)
            table = _read_arrow(pa.py_buffer(body), max_rows)
        elif fmt == "csv":
            table = pacsv.read_csv(io.BytesIO(body))
        else:
            raise InputError(f"bodies in {fmt} are read as records, not as a table.")
    # ArrowException includes ArrowMemoryError: a forged length asking for more than there is
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(f"the body is not readable as {fmt}: {_first_line(err)}.") from err
    table = _validated(table, fmt)
    if max_decoded is not None:
        _check_dictionaries(table, fmt, max_decoded, limit)
        if fmt == "parquet":  # back to the types the file holds, now that they fit
            try:
                table = table.cast(schema)
            except pa.ArrowException as err:
                raise InputError(
                    f"the body is not readable as parquet: {_first_line(err)}."
                ) from err
    return table


def _check_fixed_width(rows: int, schema: pa.Schema, max_decoded: int, limit: str) -> None:
    """Refuse a Parquet body whose numbers, times and booleans take more than
    `max_decoded` bytes once read (rows × widths, from its footer): repeated values compress
    to nothing, so a small file of a thousand columns can hold gigabytes of zeros. Only the
    schema is read here: a column chunk's metadata (`RowGroupMetaData.column`) of a forged file
    can abort the process in pyarrow 26 (a C++ exception on a bad level histogram)."""
    bits = 0
    for field in schema:
        t = field.type
        if pa.types.is_dictionary(t):
            t = t.index_type
        try:
            bits += t.bit_width
        except ValueError:  # not fixed-width: text (measured after) or nested
            continue
    width = bits / 8
    if rows * width > max_decoded:
        raise InputError(
            f"the parquet body holds {rows} rows of {width:g} bytes of fixed-width values, more "
            f"than {max_decoded} bytes ({limit}) once read; {_remedy(limit)}."
        )


def _is_bytes(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _remedy(limit: str) -> str:
    if limit == "limits.max_body":
        return "send it in smaller batches"
    return f"send less, or raise {limit}"


def _check_dictionaries(table: pa.Table, fmt: BodyFormat, max_decoded: int, limit: str) -> None:
    """Refuse a table whose dictionary-coded text would take more than `max_decoded` bytes
    once decoded: one 64 KB value repeated 200,000 times is 13 GB of text from a tiny body."""
    total = 0
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_dictionary(column.type) and _is_bytes(column.type.value_type)):
            continue
        for chunk in column.chunks:
            lengths = pc.binary_length(chunk.dictionary)
            total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
        if total > max_decoded:
            raise InputError(
                f"the {fmt} body's text decodes to more than {max_decoded} bytes "
                f"({limit}), its dictionary-coded column {name!r} included; {_remedy(limit)}."
            )


def _read_arrow(buffer: pa.Buffer, max_rows: int | None) -> pa.Table:
    """An Arrow IPC stream (or file), stopping as soon as it holds more than `max_rows`."""
    try:
        stream = ipc.open_stream(buffer)
    except pa.ArrowInvalid:
        file = ipc.open_file(buffer)
        batches = []
        rows = 0
        for i in range(file.num_record_batches):
            batches.append(file.get_batch(i))
            rows += batches[-1].num_rows
            _check_rows(rows, max_rows, "arrow")
        return pa.Table.from_batches(batches, file.schema)
    batches = []
    rows = 0
    for batch in stream:
        batches.append(batch)
        rows += batch.num_rows
        _check_rows(rows, max_rows, "arrow")
    return pa.Table.from_batches(batches, stream.schema)


_FILE_MAGIC = b"ARROW1"
_RECORD_BATCH, _DICTIONARY_BATCH = 3, 2  # Arrow's MessageHeader union, Message.fbs


def _check_decoded(body: bytes, max_decoded: int, limit: str) -> None:
    """Refuse an Arrow IPC body whose buffers hold more than `max_decoded` bytes once
    decompressed, reading only the messages' metadata and each buffer's stated length."""
    start = 8 if body[:6] == _FILE_MAGIC else 0  # a file holds a stream after its magic
    total = 0
    try:
        for message in ipc.MessageReader.open_stream(pa.py_buffer(body[start:])):
            total += _message_bytes(message.metadata.to_pybytes(), message.body)
            if total > max_decoded:
                raise InputError(
                    f"the arrow body decompresses to more than {max_decoded} bytes "
                    f"({limit}); {_remedy(limit)}."
                )
    except (pa.ArrowException, struct.error, IndexError) as err:
        raise InputError(f"the body is not readable as arrow: {_first_line(err)}.") from err


def _message_bytes(meta: bytes, body: pa.Buffer | None) -> int:
    """The bytes a record or dictionary batch message's buffers take once decompressed.

    The metadata is a FlatBuffer (Arrow's Message.fbs): Message{version, header_type,
    header, bodyLength}; RecordBatch{length, nodes, buffers: [Buffer{offset, length}],
    compression}; DictionaryBatch{id, data: RecordBatch}. A compressed buffer starts with
    its decompressed length as an int64 (-1: stored as it is).
    """
    message = _fields(meta, struct.unpack_from("<I", meta, 0)[0])
    kind_at, header_at = message(1), message(2)
    if (
        kind_at is None
        or header_at is None
        or meta[kind_at]
        not in (
            _RECORD_BATCH,
            _DICTIONARY_BATCH,
        )
    ):
        return 0
    batch_at = header_at + struct.unpack_from("<I", meta, header_at)[0]
    if meta[kind_at] == _DICTIONARY_BATCH:
        data_at = _fields(meta, batch_at)(1)
        if data_at is None:
            return 0
        batch_at = data_at + struct.unpack_from("<I", meta, data_at)[0]
    batch = _fields(meta, batch_at)
    buffers_at, compressed = batch(2), batch(3) is not None
    if buffers_at is None:
        return 0
    vector = buffers_at + struct.unpack_from("<I", meta, buffers_at)[0]
    total = 0
    raw = body.to_pybytes() if compressed and body is not None else b""
    for i in range(struct.unpack_from("<I", meta, vector)[0]):
        offset, length = struct.unpack_from("<qq", meta, vector + 4 + 16 * i)
        if compressed and length >= 8:
            stated = struct.unpack_from("<q", raw, offset)[0]
            total += length - 8 if stated == -1 else max(stated, 0)
        else:
            total += max(length, 0)
    return total


def _fields(buf: bytes, table: int) -> Callable[[int], int | None]:
    """Where field `i` of the FlatBuffer table at `table` is, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    size = struct.unpack_from("<H", buf, vtable)[0]

    def field(i: int) -> int | None:
        at = 4 + 2 * i
        if at + 2 > size:
            return None
        offset: int = struct.unpack_from("<H", buf, vtable + at)[0]
        return table + offset if offset else None

    return field


def _check_rows(rows: int, max_rows: int | None, fmt: BodyFormat) -> None:
    if max_rows is not None and rows > max_rows:
        raise InputError(
            f"the {fmt} body holds more than {max_rows} rows (limits.max_pending_records); "
            f"send it in smaller batches."
        )


def _validated(table: pa.Table, fmt: BodyFormat) -> pa.Table:
    """The table, once every column passed Arrow's full validation; InputError otherwise."""
    try:
        names = [field.name for field in table.schema]
    except UnicodeDecodeError as err:
        raise InputError(
            f"the body is not readable as {fmt}: a column name is not UTF-8 text."
        ) from err
    for i, name in enumerate(names):
        try:
            table.column(i).validate(full=True)
        except pa.ArrowException as err:
            raise InputError(
                f"the {fmt} body's column {name!r} is malformed: {_first_line(err)}; "
                f"write the table with an Arrow or Parquet library, text as UTF-8."
            ) from err
    try:
        table.validate()  # every column as long as the table
    except pa.ArrowException as err:
        raise InputError(f"the {fmt} body is malformed: {_first_line(err)}.") from err
    return table


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
