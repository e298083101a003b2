"""The SDK's columnar bodies: a batch of records as one column per field, by group.

Runs on the sender thread. Imports nothing else of vigil (the wire's `Kind` aside) and nothing
heavy: the Arrow body is built with the caller's own pyarrow, passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson

from vigil.client.wire import Kind

_FIELDS: dict[str, frozenset[str]] = {
    "predictions": frozenset(
        ("id", "timestamp", "model_version", "latency_ms", "error", "prediction", "score")
    ),
    "labels": frozenset(("id", "label", "timestamp")),
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "predictions": ("features", "segments", "attributions"),
    "labels": (),
}
_LIMIT = 2**63  # the server's integers are 64-bit
_ARROW_TYPES: dict[type | None, Callable[[Any], Any]] = {
    str: lambda pa: pa.string(),
    bool: lambda pa: pa.bool_(),
    int: lambda pa: pa.int64(),
    None: lambda pa: pa.null(),
}


Columns = dict[str, dict[str, tuple[Any, ...]]]  # group ("columns", "features", ...) -> name


def plain_columns(records: list[dict[str, Any]], kind: Kind) -> Columns | None:
    """Completed records as columns by group, or None when they do not make plain columns.

    They do when every record has the same fields, features and segments, and every column
    holds one kind of plain value (strings, booleans, or numbers; nulls anywhere), integers
    within 64 bits, no infinity. Anything else (a multi-class score, a datetime, a numpy
    scalar) is sent as JSON records, where the server judges each record by itself.
    """
    columns = _transpose(records)
    return None if columns is None else _grouped(columns, kind)


def batch_columns(
    records: Sequence[Any],
    kind: Kind,
    versions: Sequence[str | None],
    times: Sequence[float],
    fresh_ids: Sequence[str],
) -> Columns | None:
    """Records as logged, as columns completed the way `wire.complete_record` completes each
    record (the id from `fresh_ids`, the time it was logged from `times`, the version from
    `versions`, where a record has none), without copying a record; None when they do not
    make plain columns, or when a label lacks its id (the caller then goes record by record).
    """
    columns = _transpose(records)
    if columns is None:
        return None
    ids = columns.get("id")
    if ids is None or None in ids:
        if kind == "labels":
            return None
        columns["id"] = tuple(fresh_ids) if ids is None else _filled(ids, fresh_ids)
    stamps = columns.get("timestamp")
    columns["timestamp"] = tuple(times) if stamps is None else _filled(stamps, times)
    if kind == "predictions" and any(v is not None for v in versions):
        named = tuple(None if v is None else str(v) for v in versions)
        given = columns.get("model_version")
        columns["model_version"] = named if given is None else _filled(given, named)
    return _grouped(columns, kind)


def _filled(values: tuple[Any, ...], instead: Sequence[Any]) -> tuple[Any, ...]:
    if None not in values:
        return values
    return tuple(b if a is None else a for a, b in zip(values, instead, strict=True))


def _grouped(columns: dict[str, tuple[Any, ...]], kind: Kind) -> Columns | None:
    groups = _GROUPS[kind]
    fields, seen = _FIELDS[kind], set[str]()
    out: Columns = {"columns": {}}
    for name, values in columns.items():
        if name in groups:
            inner = _transpose(values)
            if inner is None:
                return None
            if name != "attributions":  # an attribution is named after its feature
                if seen & set(inner) or fields & set(inner):
                    return None  # a name in two places: the records say which is which
                seen.update(inner)
            out[name] = inner
        elif name in fields:
            out["columns"][name] = values
        else:
            return None  # an unknown field: the server names it, per record
    for group in out.values():
        for name, values in group.items():
            if not _is_plain(name, values):
                return None
    return out


def json_columns(columns: Columns) -> bytes | None:
    """Columns as the columnar JSON body (`COLUMNS`); None if one holds a lone surrogate.

    Encoded column by column, so the GIL is never held for a whole batch.
    """
    parts = []
    for group, named in columns.items():
        try:
            inner = [orjson.dumps(name) + b":" + orjson.dumps(v) for name, v in named.items()]
        except orjson.JSONEncodeError:  # a lone surrogate: the records go as JSON
            return None
        parts.append(b'"%s":{%s}' % (group.encode(), b",".join(inner)))
    return b"{" + b",".join(parts) + b"}"


def arrow_columns(columns: Columns, pa: Any) -> bytes | None:
    """Columns as the columnar Arrow body (`COLUMNS_ARROW`, fields named `group:name`), made
    with the caller's own pyarrow; None if a text cannot be encoded."""
    names, arrays = [], []
    for group, named in columns.items():
        for name, values in named.items():
            kinds = set(map(type, values)) - {type(None)}
            kind = pa.float64() if float in kinds else _ARROW_TYPES[next(iter(kinds), None)](pa)
            try:  # typed, and from a list: inferring a type (or from a tuple) is 100x slower
                arrays.append(pa.array(list(values), kind))
            except (pa.ArrowException, UnicodeEncodeError, OverflowError):
                return None
            names.append(f"{group}:{name}")
    batch = pa.RecordBatch.from_arrays(arrays, names=names)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _transpose(rows: Any) -> dict[str, tuple[Any, ...]] | None:
    """Mappings with the same keys as one tuple of values per key, or None."""
    first = rows[0]
    if set(map(type, rows)) != {dict} or len(set(map(len, rows))) != 1:
        return None
    names = tuple(first)
    if len(names) == 0:
        return {}
    try:
        values = list(map(itemgetter(*names), rows))
    except KeyError:  # the same number of keys, not the same keys
        return None
    if len(names) == 1:
        return {names[0]: tuple(values)}
    return dict(zip(names, zip(*values, strict=True), strict=True))


def _is_plain(name: Any, values: tuple[Any, ...]) -> bool:
    """Whether the values make one column the server reads as the records would be read."""
    if type(name) is not str:
        return False
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) > 1 or int in kinds:
        if not kinds <= {int, float}:
            return False
        numbers = [v for v in values if v is not None] if None in values else values
        if kinds == {int}:
            if max(numbers) >= _LIMIT or min(numbers) < -_LIMIT:
                return False
        elif any(type(v) is int and not -_LIMIT <= v < _LIMIT for v in numbers):
            return False
    elif kinds and not kinds <= {str, float, bool}:
        return False
    if float not in kinds:
        return True
    # infinity is refused as in a JSON record; NaN is null (missing), as there. A finite sum
    # (nulls and zeros left out) proves there is neither: one pass in C, no comparisons
    if math.isfinite(sum(filter(None, values))):
        return True
    return not (math.inf in values or -math.inf in values)
