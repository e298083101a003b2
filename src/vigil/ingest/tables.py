"""Flat tables (Parquet, Arrow IPC, CSV bodies) checked against a model's layout, by column.

The same rules as JSON records (`vigil.ingest.validate`), applied with Arrow compute so a
500k-row body is not walked row by row: a column casts as a whole, and only a column that does
not cast is looked at value by value to name the rows that broke it. NaN in a float column is
a missing value here (that is how pandas writes one); infinities are rejected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest.layout import Layout
from vigil.ingest.validate import (
    CONVERT,
    EPOCH_UNITS,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    RESERVED_NAME,
    FieldError,
    Rejection,
    TimeRules,
    Validated,
    too_late,
)
from vigil.spec import ATTRIBUTION_COLUMN
from vigil.store.base import ARROW_TYPES, PREDICTION_FIELDS, Quarantined, RecordKind, Storage

# the times every store and Python's datetime hold (PostgreSQL stops at 4713 BC, Python at 1)
FIRST_TIME = pa.scalar(datetime(1, 1, 1), pa.timestamp("us"))
LAST_TIME = pa.scalar(datetime(9999, 12, 31, 23, 59, 59, 999999), pa.timestamp("us"))
YEARS_MESSAGE = "outside the years 1 to 9999"


class _Flags:
    """Reasons collected per row; a row with any reason is rejected."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.reasons: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, message: str) -> None:
        for i in np.flatnonzero(mask):
            self.reasons.setdefault(int(i), []).append(message)
        self.bad |= mask

    def one(self, row: int, message: str) -> None:
        self.reasons.setdefault(row, []).append(message)
        self.bad[row] = True


def _mask(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(array, False)
    out: np.ndarray = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)
    return out


def _is_text(t: pa.DataType) -> bool:
    """Text in any of Arrow's layouts: string, large_string, string_view, or a dictionary of them
    (already checked as UTF-8 by `decode_table`), all read as plain `string`."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_text_or_integer(t: pa.DataType) -> bool:
    value = t.value_type if pa.types.is_dictionary(t) else t
    return _is_text(value) or bool(pa.types.is_integer(value))


def _unique_columns(table: pa.Table, flags: _Flags) -> pa.Table:
    """The table with each column name once (the first); every row rejected if one repeats."""
    names = table.column_names
    repeated = sorted({x for x in names if names.count(x) > 1})
    if not repeated:
        return table
    flags.add(np.ones(table.num_rows, bool), f"{', '.join(repeated)}: column names repeated")
    return table.select([names.index(x) for x in dict.fromkeys(names)])


def _versions(
    table: pa.Table, flags: _Flags, versions: Sequence[str], default: str
) -> pa.ChunkedArray:
    """The `model_version` column as text, nulls as `default`; as JSON takes it: text, integers
    or booleans. A column of another type (binary, list, map, struct, float, date...) rejects
    its non-null rows: no other type has one obvious text to compare with a version."""
    n = table.num_rows
    if "model_version" not in table.column_names:
        return pa.chunked_array([pa.array([default] * n, pa.string())])
    column = table.column("model_version")
    t = column.type
    if _is_text_or_integer(t) or pa.types.is_null(t):
        version = column.cast(pa.string())
    elif pa.types.is_boolean(t):
        version = pc.if_else(column, "true", "false")
    else:
        flags.add(
            _mask(pc.is_valid(column)), f"model_version: column of {t}, expected text or integers"
        )
        version = pa.chunked_array([pa.nulls(n, pa.string())])
    version = pc.fill_null(version, default)
    known = pa.array(sorted(versions), pa.string())
    flags.add(
        ~_mask(pc.is_in(version, value_set=known)),
        f"model_version: not registered; registered: {', '.join(sorted(versions))}",
    )
    return version


def _values(column: pa.ChunkedArray, flags: _Flags, where: str) -> list[Any]:
    """The column as Python values, to be checked one by one; when Python cannot hold them
    (a time past the year 9999), every non-null row is flagged and the values are None."""
    try:
        values: list[Any] = column.to_pylist()
        return values
    except (ValueError, OverflowError, pa.ArrowException):
        flags.add(_mask(pc.is_valid(column)), f"{where}: a column of {column.type} out of range")
        return [None] * len(column)


def _ids(table: pa.Table, flags: _Flags, alias: str | None = None) -> pa.ChunkedArray:
    """The `id` column (or the spec's id column, `alias`) as text."""
    name = "id" if "id" in table.column_names or alias is None else alias
    if name not in table.column_names:
        flags.add(np.ones(table.num_rows, bool), "id: missing column; every row needs an id")
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    column = table.column(name)
    if not _is_text_or_integer(column.type):
        flags.add(np.ones(table.num_rows, bool), f"id: column of {column.type}, expected text")
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    ids = column.cast(pa.string())
    flags.add(_mask(pc.is_null(ids)), "id: missing; every record needs a unique id")
    lengths = pc.utf8_length(ids)
    flags.add(
        _mask(pc.or_(pc.equal(lengths, 0), pc.greater(lengths, MAX_ID_LENGTH))),
        f"id: must be 1 to {MAX_ID_LENGTH} characters",
    )
    flags.add(_mask(pc.match_substring(ids, "\x00")), "id: contains a NUL character")
    return ids


def _times(
    column: pa.ChunkedArray | None,
    n: int,
    flags: _Flags,
    rules: TimeRules | None,
    where: str,
    *,
    required: bool,
) -> pa.ChunkedArray:
    """A time column as naive UTC timestamp[us]; numbers are epoch s, ms or µs by size."""
    if column is None:
        if required:
            flags.add(np.ones(n, bool), f"{where}: missing column; every row needs a time")
        return pa.chunked_array([pa.nulls(n, pa.timestamp("us"))])
    t = column.type
    if pa.types.is_timestamp(t):
        # an aware column holds UTC instants already: drop the zone, keep the instant;
        # nanoseconds are cut to microseconds, as the JSON path cuts ISO fractions
        raw = column.cast(pa.int64())
        if t.unit in ("s", "ms"):
            factor = 1_000_000 if t.unit == "s" else 1_000
            bound = (2**63 - 1) // factor  # past it the microseconds overflow 64 bits
            outside = pc.or_(pc.greater(raw, bound), pc.less(raw, -bound))
            flags.add(_mask(outside), f"{where}: {YEARS_MESSAGE}")
            raw = pc.multiply(pc.if_else(outside, pa.scalar(None, pa.int64()), raw), factor)
        elif t.unit == "ns":
            raw = pc.divide(raw, 1_000)
        out = raw.cast(pa.timestamp("us"))
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        values = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        magnitude = np.abs(values)
        unit = np.select(
            [magnitude < below for below, _ in EPOCH_UNITS], [u for _, u in EPOCH_UNITS], np.nan
        )
        readable = np.isfinite(unit)  # NaN and infinities have no unit either
        flags.add(np.isfinite(values) & ~readable, f"{where}: too large for an epoch time")
        flags.add(np.isinf(values), f"{where}: not finite")
        # as the JSON path's timedelta(seconds=...): whole seconds exact, the fraction rounded
        fraction, whole = np.modf(values / unit)
        exact = whole * 1e6 + np.round(fraction * 1e6)
        micros = np.where(readable, exact, np.nan)
        out = pa.chunked_array(
            [
                pa.array(micros, pa.float64(), from_pandas=True)
                .cast(pa.int64(), safe=False)
                .cast(pa.timestamp("us"))
            ]
        )
    else:
        texts = _values(column, flags, where)
        parsed: list[Any] = []
        for i, value in enumerate(texts):
            if value is None:
                parsed.append(None)
                continue
            try:
                parsed.append(CONVERT["TIMESTAMP"](value, where))
            except FieldError as bad:
                flags.one(i, str(bad))
                parsed.append(None)
        out = pa.chunked_array([pa.array(parsed, pa.timestamp("us"))])
    outside = pc.or_(pc.less(out, FIRST_TIME), pc.greater(out, LAST_TIME))
    flags.add(_mask(outside) & ~flags.bad, f"{where}: {YEARS_MESSAGE}")
    out = pc.if_else(outside, pa.scalar(None, pa.timestamp("us")), out)
    nulls = _mask(pc.is_null(out))
    if required:
        flags.add(nulls & ~flags.bad, f"{where}: missing; every row needs a time")
    if rules is not None:
        ahead = pa.scalar(rules.now + rules.max_future, pa.timestamp("us"))
        behind = pa.scalar(rules.now - rules.lateness, pa.timestamp("us"))
        flags.add(
            _mask(pc.greater(out, ahead)),
            f"{where}: more than {rules.max_future} ahead of the server's clock; send UTC times",
        )
        flags.add(_mask(pc.less(out, behind)), f"{where}: {too_late(rules)}")
    return out


def _typed(column: pa.ChunkedArray, storage: Storage, flags: _Flags, where: str) -> pa.ChunkedArray:
    """A column cast to its storage type; rows that do not cast are flagged and nulled."""
    target = ARROW_TYPES[storage]
    t = column.type
    castable = (
        (
            storage == "DOUBLE"
            and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t))
        )
        or (
            storage == "VARCHAR"
            and (_is_text_or_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t))
        )
        or (storage == "BOOLEAN" and (pa.types.is_boolean(t) or pa.types.is_null(t)))
    )
    if castable:
        out = column.cast(target, safe=False)  # integers past 2**53 become the nearest double
        if storage == "DOUBLE":
            values = out.to_numpy(zero_copy_only=False)
            flags.add(np.isinf(values), f"{where}: not finite; send null for a missing value")
            if np.isnan(values).any():  # NaN is pandas' missing value: keep it as null
                out = pa.chunked_array([pa.array(values, pa.float64(), from_pandas=True)])
        elif storage == "VARCHAR" and pa.types.is_boolean(t):
            out = pc.if_else(column, "true", "false")
        if storage == "VARCHAR":
            flags.add(_mask(pc.match_substring(out, "\x00")), f"{where}: contains a NUL character")
            flags.add(
                _mask(pc.greater(pc.utf8_length(out), MAX_TEXT_LENGTH)),
                f"{where}: more than {MAX_TEXT_LENGTH} characters",
            )
        return out
    if storage == "TIMESTAMP":
        return _times(column, len(column), flags, None, where, required=False)
    values = []
    for i, value in enumerate(_values(column, flags, where)):
        try:
            values.append(CONVERT[storage](value, where))
        except FieldError as bad:
            flags.one(i, str(bad))
            values.append(None)
    return pa.chunked_array([pa.array(values, target)])


def _extra_text(column: pa.ChunkedArray, flags: _Flags, name: str) -> pa.ChunkedArray:
    """An extra column as text; a row whose bytes are not UTF-8 (a Latin-1 CSV) is flagged."""
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values: list[str | None] = []
    for i, value in enumerate(_values(column, flags, name)):
        try:
            values.append(None if value is None else value.decode("utf-8"))
        except (AttributeError, UnicodeDecodeError):
            flags.one(i, f"{name}: not UTF-8 text (a column of {column.type})")
            values.append(None)
    return pa.chunked_array([pa.array(values, pa.string())])


def _rejections(
    table: pa.Table, flags: _Flags, ids: pa.ChunkedArray, kind: RecordKind, out: Validated
) -> None:
    id_list = ids.to_pylist()
    rows = sorted(flags.reasons)
    for i in rows:
        errors = tuple(flags.reasons[i])
        out.rejected.append(Rejection(i, id_list[i], errors))
        payload = json.dumps(_row(table, i), default=str)[:8192]
        out.quarantined.append(Quarantined(kind, i, id_list[i], errors, payload))


def _row(table: pa.Table, i: int) -> dict[str, Any]:
    """Row `i` as Python values; a value Python cannot hold (a time past year 9999) as text."""
    try:
        row: dict[str, Any] = table.slice(i, 1).to_pylist()[0]
        return row
    except (ValueError, OverflowError, pa.ArrowException):
        pass
    row = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            row[name] = column[i].as_py()
        except (ValueError, OverflowError, pa.ArrowException):
            row[name] = f"<a {column.type} value Python cannot represent>"
    return row


def validate_prediction_table(
    table: pa.Table,
    layout: Layout,
    versions: Sequence[str],
    default_version: str,
    rules: TimeRules,
) -> Validated:
    """Check a flat prediction table; the accepted rows in the shape the store takes."""
    n = table.num_rows
    flags = _Flags(n)
    table = _unique_columns(table, flags)
    ids = _ids(table, flags, layout.id_column)
    present = set(table.column_names)
    arrays: dict[str, pa.ChunkedArray] = {"id": ids}
    ts_column = "timestamp" if "timestamp" in present else layout.timestamp_column
    arrays["timestamp"] = _times(
        table.column(ts_column) if ts_column in present else None,
        n,
        flags,
        rules,
        "timestamp",
        required=True,
    )
    arrays["model_version"] = _versions(table, flags, versions, default_version)
    if "latency_ms" in present:
        latency = _typed(table.column("latency_ms"), "DOUBLE", flags, "latency_ms")
        flags.add(_mask(pc.less(latency, 0)), "latency_ms: negative; expected milliseconds >= 0")
    else:
        latency = pa.chunked_array([pa.nulls(n, pa.float64())])
    arrays["latency_ms"] = latency
    arrays["error"] = (
        _typed(table.column("error"), "VARCHAR", flags, "error")
        if "error" in present
        else pa.chunked_array([pa.nulls(n, pa.string())])
    )
    kept_attributions = {column: f"attributions.{f}" for f, column in layout.attributions.items()}
    for name, _, storage in layout.stored():
        if name in present:
            where = kept_attributions.get(name, name)
            arrays[name] = _typed(table.column(name), storage, flags, where)
    taken = set(PREDICTION_FIELDS) | {name for name, _, _ in layout.stored()}
    taken |= {layout.timestamp_column, layout.id_column} - {None}  # type: ignore[arg-type]
    extras = []
    for name in table.column_names:
        if name in taken or (layout.target is not None and name == layout.target[0]):
            continue
        column = table.column(name)
        if pa.types.is_nested(column.type):
            flags.add(_mask(pc.is_valid(column)), f"{name}: nested values; expected a scalar")
            continue
        if name.startswith(ATTRIBUTION_COLUMN):
            feature = name[len(ATTRIBUTION_COLUMN) :]
            reason = (
                "not a feature of the spec"
                if layout.attributions
                else "the model's spec does not take attributions (attribution.receive)"
            )
            flags.add(_mask(pc.is_valid(column)), f"attributions.{feature}: {reason}")
            continue
        if name.startswith("__") or "\x00" in name:
            flags.add(_mask(pc.is_valid(column)), f"{name}: {RESERVED_NAME}")
            continue
        arrays[name] = _extra_text(column, flags, name)
        flags.add(
            _mask(pc.match_substring(arrays[name], "\x00")), f"{name}: contains a NUL character"
        )
        extras.append(name)
    out = Validated(pa.table(arrays))
    _rejections(table, flags, ids, "prediction", out)
    if flags.bad.any():
        out.table = out.table.filter(pa.array(~flags.bad))
    out.extras = extras
    return out


def validate_label_table(table: pa.Table, layout: Layout, rules: TimeRules) -> Validated:
    """Check a flat label table with columns `id`, `label` and optionally `timestamp`."""
    assert layout.target is not None
    n = table.num_rows
    flags = _Flags(n)
    table = _unique_columns(table, flags)
    ids = _ids(table, flags)
    if "label" not in table.column_names:
        flags.add(np.ones(n, bool), "label: missing column")
        label = pa.chunked_array([pa.nulls(n, ARROW_TYPES[layout.target[1]])])
    else:
        label = _typed(table.column("label"), layout.target[1], flags, "label")
        flags.add(_mask(pc.is_null(label)) & ~flags.bad, "label: null; send the true value")
    ts = _times(
        table.column("timestamp") if "timestamp" in table.column_names else None,
        n,
        flags,
        None,
        "timestamp",
        required=False,
    )
    ahead = pa.scalar(rules.now + rules.max_future, pa.timestamp("us"))
    flags.add(_mask(pc.greater(ts, ahead)), "timestamp: ahead of the server's clock")
    out = Validated(pa.table({"id": ids, "label": label, "timestamp": ts}))
    _rejections(table, flags, ids, "label", out)
    if flags.bad.any():
        out.table = out.table.filter(pa.array(~flags.bad))
    return out
