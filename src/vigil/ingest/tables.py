"""Flat tables (Parquet, Arrow IPC, CSV bodies) checked against a model's layout, by column.

The same rules as JSON records (`vigil.ingest.validate`), applied with Arrow compute so a
500k-row body is not walked row by row: a column casts as a whole, and only a column that does
not cast is looked at value by value to name the rows that broke it. NaN in a float column is
a missing value here (that is how pandas writes one); infinities are rejected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
from vigil.store.base import ARROW_TYPES, PREDICTION_FIELDS, Quarantined, RecordKind, Storage


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


def _ids(table: pa.Table, flags: _Flags, alias: str | None = None) -> pa.ChunkedArray:
    """The `id` column (or the spec's id column, `alias`) as text."""
    name = "id" if "id" in table.column_names or alias is None else alias
    if name not in table.column_names:
        flags.add(np.ones(table.num_rows, bool), "id: missing column; every row needs an id")
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    column = table.column(name)
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_integer(column.type)
        or pa.types.is_large_string(column.type)
    ):
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
        us = column.cast(pa.timestamp("us", t.tz), safe=t.unit != "ns")
        out = us.cast(pa.int64()).cast(pa.timestamp("us"))
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
        texts = column.to_pylist()
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
            and (
                pa.types.is_string(t)
                or pa.types.is_integer(t)
                or pa.types.is_boolean(t)
                or pa.types.is_null(t)
                or pa.types.is_large_string(t)
                or pa.types.is_dictionary(t)
            )
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
    for i, value in enumerate(column.to_pylist()):
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
    for i, value in enumerate(column.to_pylist()):
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
        payload = json.dumps(table.slice(i, 1).to_pylist()[0], default=str)[:8192]
        out.quarantined.append(Quarantined(kind, i, id_list[i], errors, payload))


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
    names = table.column_names
    repeated = sorted({x for x in names if names.count(x) > 1})
    if repeated:
        flags.add(np.ones(n, bool), f"{', '.join(repeated)}: column names repeated")
        table = table.select([names.index(x) for x in dict.fromkeys(names)])
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
    if "model_version" in present:
        version = table.column("model_version").cast(pa.string())
        version = pc.fill_null(version, default_version)
        known = pa.array(sorted(versions), pa.string())
        flags.add(
            ~_mask(pc.is_in(version, value_set=known)),
            f"model_version: not registered; registered: {', '.join(sorted(versions))}",
        )
    else:
        version = pa.chunked_array([pa.array([default_version] * n, pa.string())])
    arrays["model_version"] = version
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
    for name, _, storage in layout.stored():
        if name in present:
            arrays[name] = _typed(table.column(name), storage, flags, name)
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
