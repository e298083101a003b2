"""Incoming prediction and label records checked against a model's layout.

Every record is judged on its own: one with a missing or mistyped field is rejected with the
field, what was wrong and what was expected, and kept for the quarantine; the rest of the batch
goes on. A feature the spec does not name is kept (as text) and shows up as schema drift.
A feature the record leaves out is a missing value, not an error: data quality measures it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest.decode import DUPLICATE, Unreadable
from vigil.ingest.layout import Layout
from vigil.json_value import NonFinite, json_type
from vigil.store.base import ARROW_TYPES, PREDICTION_FIELDS, Quarantined, RecordKind, Storage

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 65_536
RESERVED_NAME = "names starting with '__' are kept for vigil's own fields; rename it"
MAX_PAYLOAD_KEPT = 8_192  # characters of a rejected record kept in the quarantine
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record of a batch was not accepted."""

    index: int
    id: str | None
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimeRules:
    """The clock limits a record's timestamp must fall within."""

    now: datetime  # naive UTC
    lateness: timedelta  # older than now - lateness: the window is closed, quarantined
    max_future: timedelta  # newer than now + max_future: a clock or unit error, rejected


@dataclass(slots=True)
class Validated:
    """A batch after validation: the accepted rows as a table, and the rejections."""

    table: pa.Table
    rejected: list[Rejection] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # feature names the spec does not know


class FieldError(Exception):
    """One field of one record is unusable; the message is the reason given back."""


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, NonFinite):
        raise FieldError(f"{where}: {value} is not a number; send null for a missing value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"{where}: got {json_type(value)}, expected a number or null")
    number = float(value)
    if not math.isfinite(number):
        raise FieldError(f"{where}: {value} is not finite; send null for a missing value")
    return number


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, NonFinite):
        if "\x00" in value:
            raise FieldError(f"{where}: contains a NUL character; text may not hold NUL")
        if len(value) > MAX_TEXT_LENGTH:
            raise FieldError(f"{where}: {len(value)} characters, more than {MAX_TEXT_LENGTH}")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise FieldError(f"{where}: got {json_type(value)}, expected a string, an integer or null")


def _boolean(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise FieldError(f"{where}: got {json_type(value)}, expected true, false or null")


def iso_time(text: str) -> datetime:
    """ISO-8601 text as naive UTC (a time without a zone is taken as UTC).

    `datetime.fromisoformat`, also taking the `Z` suffix on Python 3.10. The one reader of
    ISO times: records, tables, the query API and the command line's --from/--to. A ValueError
    says what is wrong with the text, in words a message can repeat.
    """
    shown = repr(text[:40])
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise ValueError(f"{shown} is not an ISO-8601 time") from None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:30+01:00 is in the year 0 in UTC
            raise ValueError(f"{shown} is outside the years 1-9999 in UTC") from None
    return parsed


# An epoch number's unit, told by its size: (magnitude below, units per second). Epoch seconds
# pass 1e11 only in the year 5138, milliseconds pass 1e14 in 5138 too; nothing is read past 1e17.
EPOCH_UNITS: tuple[tuple[float, float], ...] = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6))


def parse_time(value: Any, where: str) -> datetime:
    """A timestamp as naive UTC: ISO-8601 text, or epoch seconds, milliseconds or microseconds."""
    if isinstance(value, str) and not isinstance(value, NonFinite):
        try:
            return iso_time(value)
        except ValueError as err:
            raise FieldError(
                f"{where}: {err}; send e.g. '2026-11-23T10:00:00Z' or epoch seconds"
            ) from None
    number = _number(value, where)
    if number is None:
        raise FieldError(f"{where}: missing; every record needs a time (ISO-8601 or epoch seconds)")
    per_second = next((unit for below, unit in EPOCH_UNITS if abs(number) < below), None)
    if per_second is None:
        raise FieldError(
            f"{where}: {value} is too large for epoch seconds, milliseconds or microseconds"
        )
    try:
        return EPOCH + timedelta(seconds=number / per_second)
    except OverflowError:
        raise FieldError(f"{where}: {value} is outside the years 1-9999") from None


def too_late(rules: TimeRules) -> str:
    """Why a time behind the lateness horizon is refused, and the setting that moves it."""
    return (
        f"older than the lateness horizon ({_duration(rules.lateness)}, limits.lateness); its "
        "windows are closed. To take older records, raise limits.lateness in the service "
        "config (docs/config.md) and restart the service"
    )


def _duration(span: timedelta) -> str:
    """A span as the config writes it (30d, 6h, 90m, 45s), or as Python does if it cannot."""
    seconds = span.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        return str(span)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds) // size}{unit}"
    return f"{int(seconds)}s"


def _check_time(ts: datetime, rules: TimeRules, where: str) -> None:
    if ts > rules.now + rules.max_future:
        raise FieldError(
            f"{where}: {ts.isoformat()}Z is more than {rules.max_future} ahead of the server's "
            f"clock; send UTC times (or epoch seconds)"
        )
    if ts < rules.now - rules.lateness:
        raise FieldError(f"{where}: {ts.isoformat()}Z is {too_late(rules)}")


def _record_id(value: Any) -> str:
    if value is None:
        raise FieldError("id: missing; every record needs a unique id (a string)")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or isinstance(value, NonFinite):
        raise FieldError(f"id: got {json_type(value)}, expected a string or an integer")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH or "\x00" in text:
        raise FieldError(f"id: must be 1 to {MAX_ID_LENGTH} characters without NUL")
    return text


CONVERT: dict[Storage, Callable[[Any, str], Any]] = {
    "DOUBLE": _number,
    "VARCHAR": _text,
    "BOOLEAN": _boolean,
    "TIMESTAMP": lambda v, where: None if v is None else parse_time(v, where),
}


def _payload(record: Any) -> str:
    if type(record) is Unreadable:
        record = record.record
    try:
        # skipkeys: the marker of repeated keys is not part of what was received
        text = json.dumps(record, default=str, allow_nan=True, skipkeys=True)
    except (TypeError, ValueError):
        text = repr(record)
    except RecursionError:  # orjson reads 1024 levels, more than json.dumps can write back
        text = json.dumps("the record nests too deeply to be kept")
    return text[:MAX_PAYLOAD_KEPT]


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"{where}: got {json_type(value)}, expected an object of name: value")
    if DUPLICATE in value:
        raise FieldError(f"{where}: repeats the key(s) {', '.join(value[DUPLICATE])}")
    return value


def validate_predictions(
    records: Sequence[Any],
    layout: Layout,
    versions: Sequence[str],
    default_version: str,
    rules: TimeRules,
) -> Validated:
    """Check JSON prediction records; the accepted ones as a table of stored columns.

    A batch is first taken column by column (`_columns_at_once`): that path accepts a batch
    only when every record passes, and otherwise gives way to the record-by-record walk,
    which finds each bad record and its reasons. Both give the same table for a batch that
    passes (tests/ingest/test_validate.py checks them against each other).
    """
    whole = _columns_at_once(records, layout, versions, default_version, rules)
    if whole is not None:
        return whole
    return _record_by_record(records, layout, versions, default_version, rules)


def _column(rows: list[dict[Any, Any]], key: str) -> list[Any]:
    return [row.get(key) for row in rows]


def _names(mappings: list[Any]) -> set[Any] | None:
    """Every key of a column of objects (null counts as empty), or None if one is not one."""
    if not all(type(m) is dict or m is None for m in mappings):
        return None
    return set().union(*(m for m in mappings if m))


def _times(values: list[Any], rules: TimeRules) -> pa.Array | None:
    """Epoch seconds or ISO-8601 text within the rules, read as `parse_time` reads them, or
    None (another unit, a time out of bounds, bad text: the record walk says which and why)."""
    stamps = []
    for value in values:
        kind = type(value)
        if (kind is float or kind is int) and abs(value) < EPOCH_UNITS[0][0]:
            stamps.append(EPOCH + timedelta(seconds=float(value)))
        elif kind is str:
            try:
                stamps.append(iso_time(value))
            except ValueError:
                return None
        else:
            return None
    if min(stamps) < rules.now - rules.lateness or max(stamps) > rules.now + rules.max_future:
        return None
    return pa.array(stamps, pa.timestamp("us"))


def _columns_at_once(
    records: Sequence[Any],
    layout: Layout,
    versions: Sequence[str],
    default_version: str,
    rules: TimeRules,
) -> Validated | None:
    """The batch as a table when every record passes, built a column at a time; None as soon
    as anything needs a closer look (then nothing of this is kept)."""
    rows = list(records)
    if not rows or not all(type(r) is dict for r in rows):
        return None
    if not _TOP_LEVEL.issuperset(set().union(*rows)):
        return None  # an unknown field, or the marker of a repeated key
    n = len(rows)
    ids = _column(rows, "id")
    if not all(type(v) is str for v in ids):
        return None
    if min(map(len, ids)) < 1 or max(map(len, ids)) > MAX_ID_LENGTH:
        return None
    if any("\x00" in v for v in ids):
        return None
    stamps = _times(_column(rows, "timestamp"), rules)
    if stamps is None:
        return None
    version_values = _column(rows, "model_version")
    if any(v is not None for v in version_values):
        known = set(versions)
        if not all(v is None or (type(v) is str and v in known) for v in version_values):
            return None
        version_values = [default_version if v is None else v for v in version_values]
        version = pa.array(version_values, pa.string())
    else:
        version = pa.repeat(pa.scalar(default_version, pa.string()), n)
    latencies = _column(rows, "latency_ms")
    if not all(type(v) is float or type(v) is int or v is None for v in latencies):
        return None  # a boolean is no number here, as `_number` says
    latency = _convert_fast(latencies, "DOUBLE")
    if latency is None or (latency.null_count < n and pc.min(latency).as_py() < 0):
        return None
    errors = _column(rows, "error")
    if not all(type(v) is str or v is None for v in errors):
        return None  # `_text` writes numbers and booleans as text
    error = _convert_fast(errors, "VARCHAR")
    if error is None:
        return None
    raw: dict[str, list[Any]] = {}
    features = _column(rows, "features")
    names = _names(features)
    if names is None or not names <= layout.features.keys():
        return None
    for name in layout.features:
        raw[name] = [f.get(name) if f else None for f in features] if name in names else [None] * n
    predictions = _column(rows, "prediction")
    if layout.prediction is not None:
        raw[layout.prediction[0]] = predictions
    elif any(v is not None for v in predictions):
        return None
    scores = _column(rows, "score")
    if any(v is not None for v in scores):
        single = layout.scores.get(None) or (
            next(iter(layout.scores.values())) if len(layout.scores) == 1 else None
        )
        if single is None or any(type(v) is dict for v in scores):
            return None
        raw[single] = scores
    segments = _column(rows, "segments")
    segment_names = _names(segments)
    if segment_names is None or not segment_names <= layout.segments.keys():
        return None
    for name in layout.segments:
        raw[name] = [s.get(name) if s else None for s in segments]
    attributions = _column(rows, "attributions")
    attribution_names = _names(attributions)
    if attribution_names is None or not attribution_names <= layout.attributions.keys():
        return None
    for name, column in layout.attributions.items():
        raw[column] = [a.get(name) if a else None for a in attributions]
    arrays: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.string()),
        "timestamp": stamps,
        "model_version": version,
        "latency_ms": latency,
        "error": error,
    }
    for name, _, storage in layout.stored():
        values = raw.get(name)
        if values is None:
            arrays[name] = pa.nulls(n, ARROW_TYPES[storage])
            continue
        array = _convert_exact(values, storage)
        if array is None:
            return None
        arrays[name] = array
    return Validated(pa.table(arrays))


def _convert_exact(values: list[Any], storage: Storage) -> pa.Array | None:
    """A column converted whole when every value fits, else None."""
    if storage != "TIMESTAMP":
        return _convert_fast(values, storage)
    try:
        return pa.array([CONVERT[storage](v, "") for v in values], pa.timestamp("us"))
    except FieldError:
        return None


def _record_by_record(
    records: Sequence[Any],
    layout: Layout,
    versions: Sequence[str],
    default_version: str,
    rules: TimeRules,
) -> Validated:
    """Every record walked once to check its structure and gather each column's raw values;
    then each column is converted as a whole, and only a column that does not convert is
    walked value by value to give its bad rows their reasons."""
    n = len(records)
    errors: list[list[str]] = [[] for _ in range(n)]
    fixed: dict[str, list[Any]] = {name: [None] * n for name in PREDICTION_FIELDS}
    raw: dict[str, list[Any]] = {name: [None] * n for name, _, _ in layout.stored()}
    extras: dict[str, list[Any]] = {}
    known_versions = set(versions)
    for i, record in enumerate(records):
        if type(record) is Unreadable:
            errors[i].append(record.reason)
            fixed["id"][i] = record.id
            continue
        if type(record) is not dict:
            errors[i].append(f"record {i}: got {json_type(record)}, expected an object")
            continue
        if DUPLICATE in record:
            errors[i].append(f"record {i}: repeats the key(s) {', '.join(record[DUPLICATE])}")
        row_errors = errors[i]
        record_id = record.get("id")
        if (
            type(record_id) is str
            and 0 < len(record_id) <= MAX_ID_LENGTH
            and "\x00" not in record_id
        ):
            fixed["id"][i] = record_id
        else:
            fixed["id"][i] = _attempt(row_errors, _record_id, record_id)
        fixed["timestamp"][i] = _attempt(row_errors, _timestamp, record, rules)
        version = record.get("model_version")
        fixed["model_version"][i] = (
            default_version
            if version is None
            else _attempt(row_errors, _version, record, known_versions, default_version)
        )
        latency = record.get("latency_ms")
        if latency is not None:
            fixed["latency_ms"][i] = _attempt(row_errors, _latency, latency)
        error = record.get("error")
        if error is not None:
            fixed["error"][i] = _attempt(row_errors, _text, error, "error")
        _collect(record, i, n, layout, raw, extras, row_errors)
        if not record.keys() <= _TOP_LEVEL | {DUPLICATE}:
            names = ", ".join(sorted(str(k) for k in set(record) - _TOP_LEVEL - {DUPLICATE}))
            row_errors.append(f"{names}: unknown field(s); expected only {', '.join(_TOP_ORDER)}")
    arrays: dict[str, pa.Array] = {
        "id": pa.array(fixed["id"], pa.string()),
        "timestamp": pa.array(fixed["timestamp"], pa.timestamp("us")),
        "model_version": pa.array(fixed["model_version"], pa.string()),
        "latency_ms": pa.array(fixed["latency_ms"], pa.float64()),
        "error": pa.array(fixed["error"], pa.string()),
    }
    wheres = _wheres(layout)
    for name, _, storage in layout.stored():
        arrays[name] = _convert(raw[name], storage, wheres[name], errors)
    for name, values in extras.items():
        arrays[name] = pa.array(values, pa.string())
    out = Validated(pa.table(arrays), extras=list(extras))  # in the order first sent
    bad = [i for i in range(n) if errors[i]]
    if bad:
        for i in bad:
            record_id = fixed["id"][i]
            reasons = tuple(errors[i])
            out.rejected.append(Rejection(i, record_id, reasons))
            payload = _payload(records[i])
            out.quarantined.append(Quarantined("prediction", i, record_id, reasons, payload))
        keep = [not e for e in errors]
        out.table = out.table.filter(pa.array(keep, pa.bool_()))
    return out


def refuse_columns(
    checked: Validated, names: Collection[str], kind: RecordKind, limit: int, prefix: str
) -> None:
    """Reject the accepted rows holding a value in one of `names`, unregistered columns past
    the model's `limits.max_extra_columns`, and leave those columns out of the table.

    The accepted rows keep the batch's order, so a row's index in the batch is found from
    the indices already rejected; `prefix` is how the batch names a feature ("features.").
    """
    table = checked.table
    refused = [name for name in names if name in table.column_names]
    if not refused:
        return
    taken = {r.index for r in checked.rejected}
    batch_index = (i for i in range(table.num_rows + len(taken)) if i not in taken)
    firsts: list[str | None] = [None] * table.num_rows
    for name in refused:
        for row, valid in enumerate(pc.is_valid(table.column(name)).to_pylist()):
            if valid and firsts[row] is None:
                firsts[row] = name
    ids = table.column("id").to_pylist()
    for row, index in enumerate(batch_index):
        first = firsts[row]
        if first is None:
            continue
        reason = (
            f"{prefix}{first}: not a feature of the spec, and the model keeps {limit} "
            "unregistered columns already, as many as limits.max_extra_columns allows; "
            "add the column to the spec (a new version) or stop sending it"
        )
        checked.rejected.append(Rejection(index, ids[row], (reason,)))
        payload = _payload(table.slice(row, 1).to_pylist()[0])
        checked.quarantined.append(Quarantined(kind, index, ids[row], (reason,), payload))
    checked.rejected.sort(key=lambda r: r.index)
    checked.quarantined.sort(key=lambda q: q.index)
    keep = pa.array([first is None for first in firsts], pa.bool_())
    checked.table = table.filter(keep).drop_columns(refused)
    checked.extras = [name for name in checked.extras if name not in refused]


def _wheres(layout: Layout) -> dict[str, str]:
    """How each stored column is named in a record, for the messages."""
    out = {name: f"features.{name}" for name in layout.features}
    if layout.prediction is not None:
        out[layout.prediction[0]] = "prediction"
    for cls, name in layout.scores.items():
        out[name] = "score" if cls is None or len(layout.scores) == 1 else f"score.{cls}"
    out |= {name: f"segments.{name}" for name in layout.segments}
    out |= {column: f"attributions.{name}" for name, column in layout.attributions.items()}
    return out


def _collect(
    record: dict[Any, Any],
    i: int,
    n: int,
    layout: Layout,
    raw: dict[str, list[Any]],
    extras: dict[str, list[Any]],
    errors: list[str],
) -> None:
    """Put a record's feature, output and segment values in their columns' raw lists."""
    features = _attempt(errors, _mapping, record.get("features"), "features")
    if features:
        for name, value in features.items():
            column = raw.get(name) if name in layout.features else None
            if column is not None:
                column[i] = value
            elif name in raw or name in PREDICTION_FIELDS or name in _spec_names(layout):
                # kept as an extra, it would overwrite that column for the whole batch
                errors.append(
                    f"features.{name}: not a feature of the spec but the name of another "
                    f"field or column; rename the feature"
                )
            else:
                _extra(str(name), value, i, n, extras, errors)
    prediction = record.get("prediction")
    if layout.prediction is not None:
        raw[layout.prediction[0]][i] = prediction
    elif prediction is not None:
        errors.append("prediction: the model's spec has no prediction column")
    score = record.get("score")
    if score is not None:
        _collect_score(score, i, layout, raw, errors)
    attributions = _attempt(errors, _mapping, record.get("attributions"), "attributions")
    if attributions:
        _collect_attributions(attributions, i, layout, raw, errors)
    segments = _attempt(errors, _mapping, record.get("segments"), "segments")
    if segments:
        for name, value in segments.items():
            if name in layout.segments:
                raw[name][i] = value
            else:
                errors.append(
                    f"segments.{name}: not a segment column of the spec; segment columns: "
                    f"{', '.join(layout.segments) or 'none'}"
                )


MAX_NAMES_SHOWN = 5  # unknown attribution names quoted in one reason


def _collect_attributions(
    attributions: dict[Any, Any],
    i: int,
    layout: Layout,
    raw: dict[str, list[Any]],
    errors: list[str],
) -> None:
    """A record's `attributions` (feature: number) into their columns; names that are not
    features of the spec give the record one reason, whatever their number."""
    if not layout.attributions:
        errors.append(
            "attributions: the model's spec does not take attributions; set "
            "`attribution: {receive: true}` in a new spec version (docs/spec.md)"
        )
        return
    unknown = []
    for name, value in attributions.items():
        column = layout.attributions.get(name)
        if column is None:
            unknown.append(str(name))
        else:
            raw[column][i] = value
    if unknown:
        shown = ", ".join(repr(n[:64]) for n in unknown[:MAX_NAMES_SHOWN])
        more = (
            f" and {len(unknown) - MAX_NAMES_SHOWN} more" if len(unknown) > MAX_NAMES_SHOWN else ""
        )
        errors.append(
            f"attributions: {shown}{more} not feature(s) of the spec; expected an object of "
            f"feature: number for the spec's {len(layout.attributions)} features"
        )


def _spec_names(layout: Layout) -> tuple[str | None, ...]:
    """The spec's columns that are neither stored columns nor features."""
    target = None if layout.target is None else layout.target[0]
    return (target, layout.id_column, layout.timestamp_column)


def _extra(
    name: str, value: Any, i: int, n: int, extras: dict[str, list[Any]], errors: list[str]
) -> None:
    """Keep a feature the spec does not know, as text."""
    where = f"features.{name}"
    if value is None:
        return
    if name.startswith("__"):
        errors.append(f"{where}: {RESERVED_NAME}")
        return
    if isinstance(value, (dict, list)):
        errors.append(f"{where}: got {json_type(value)}, expected a scalar")
        return
    if isinstance(value, NonFinite):
        errors.append(f"{where}: {value} is not a number; send null for a missing value")
        return
    text = value if isinstance(value, str) else json.dumps(value)
    if "\x00" in text or "\x00" in name:
        errors.append(f"{where}: contains a NUL character; text may not hold NUL")
        return
    column = extras.get(name)
    if column is None:
        column = extras[name] = [None] * n
    column[i] = text


def _collect_score(
    score: Any, i: int, layout: Layout, raw: dict[str, list[Any]], errors: list[str]
) -> None:
    """A number for the one score column, or class: probability for several."""
    if type(score) is dict:
        if DUPLICATE in score:
            errors.append(f"score: repeats the key(s) {', '.join(score[DUPLICATE])}")
            return
        for cls, value in score.items():
            name = layout.scores.get(str(cls))
            if name is None:
                classes = ", ".join(str(c) for c in layout.scores if c is not None) or "none"
                errors.append(f"score.{cls}: not a class with a score column; classes: {classes}")
            else:
                raw[name][i] = value
        return
    single = layout.scores.get(None) or (
        next(iter(layout.scores.values())) if len(layout.scores) == 1 else None
    )
    if single is None:
        errors.append(
            f"score: got {json_type(score)}, expected an object of class: probability"
            if layout.scores
            else "score: the model's spec has no score column"
        )
        return
    raw[single][i] = score


def _convert(values: list[Any], storage: Storage, where: str, errors: list[list[str]]) -> pa.Array:
    """A column's raw values as Arrow; values that do not fit give their rows a reason."""
    fast = _convert_fast(values, storage)
    if fast is not None:
        return fast
    out = []
    convert = CONVERT[storage]
    for i, value in enumerate(values):
        try:
            out.append(convert(value, where))
        except FieldError as bad:
            errors[i].append(str(bad))
            out.append(None)
    return pa.array(out, ARROW_TYPES[storage])


def _convert_fast(values: list[Any], storage: Storage) -> pa.Array | None:
    """The whole column at once, or None when some value needs looking at."""
    try:
        if storage == "DOUBLE":
            inferred = pa.array(values)
            if not (
                pa.types.is_integer(inferred.type)
                or pa.types.is_floating(inferred.type)
                or pa.types.is_null(inferred.type)
            ):
                return None
            array = inferred.cast(pa.float64())
            if pc.any(pc.invert(pc.is_finite(array))).as_py():  # NaN too, as _number says
                return None
            return array
        if storage == "VARCHAR":
            array = pa.array(values, pa.string())
            if any(type(v) is NonFinite for v in values):
                return None
            longest = pc.max(pc.utf8_length(array)).as_py() if len(array) else 0
            if (longest or 0) > MAX_TEXT_LENGTH or pc.any(
                pc.match_substring(array, "\x00")
            ).as_py():
                return None
            return array
        if storage == "BOOLEAN":
            return pa.array(values, pa.bool_())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return None


_TOP_ORDER = (
    "id",
    "timestamp",
    "model_version",
    "features",
    "prediction",
    "score",
    "latency_ms",
    "error",
    "segments",
    "attributions",
)
_TOP_LEVEL = frozenset(_TOP_ORDER)


def _attempt(errors: list[str], check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)`, or None with its reason added to `errors`."""
    try:
        return check(*args)
    except FieldError as bad:
        errors.append(str(bad))
        return None


def _timestamp(record: dict[Any, Any], rules: TimeRules) -> datetime:
    ts = parse_time(record.get("timestamp"), "timestamp")
    _check_time(ts, rules, "timestamp")
    return ts


def _version(record: dict[Any, Any], known: set[str], default: str) -> str:
    value = record.get("model_version")
    if value is None:
        return default
    text = _text(value, "model_version")
    if text not in known:
        raise FieldError(
            f"model_version: {text!r} is not registered; registered: {', '.join(sorted(known))}"
        )
    assert text is not None
    return text


def _latency(value: Any) -> float | None:
    number = _number(value, "latency_ms")
    if number is not None and number < 0:
        raise FieldError(f"latency_ms: {number} is negative; expected milliseconds >= 0")
    return number


def validate_labels(records: Sequence[Any], layout: Layout, rules: TimeRules) -> Validated:
    """Check JSON label records `{id, label, timestamp?}`."""
    out = Validated(pa.table({}))
    if layout.target is None:
        raise ValueError("validate_labels needs a layout with a target column")
    _, storage = layout.target
    ids: list[str] = []
    labels: list[Any] = []
    times: list[datetime | None] = []
    for index, record in enumerate(records):
        errors: list[str] = []
        record_id = None
        if type(record) is Unreadable:
            out.rejected.append(Rejection(index, record.id, (record.reason,)))
            out.quarantined.append(
                Quarantined("label", index, record.id, (record.reason,), _payload(record))
            )
            continue
        try:
            record = _mapping(record, f"record {index}")
            record_id = _record_id(record.get("id"))
        except FieldError as bad:
            errors.append(str(bad))
            record = record if isinstance(record, dict) else {}
        label = ts = None
        if "label" not in record:
            errors.append("label: missing; send the true value (null is not a label)")
        else:
            try:
                label = CONVERT[storage](record["label"], "label")
                if label is None:
                    errors.append("label: null; send the true value")
            except FieldError as bad:
                errors.append(str(bad))
        if record.get("timestamp") is not None:
            try:
                ts = parse_time(record["timestamp"], "timestamp")
                if ts > rules.now + rules.max_future:
                    _check_time(ts, rules, "timestamp")
            except FieldError as bad:
                errors.append(str(bad))
        unknown = set(record) - {"id", "label", "timestamp", DUPLICATE}
        if unknown:
            names = ", ".join(sorted(str(k) for k in unknown))
            errors.append(f"{names}: unknown field(s); expected only id, label, timestamp")
        if errors:
            out.rejected.append(Rejection(index, record_id, tuple(errors)))
            out.quarantined.append(
                Quarantined("label", index, record_id, tuple(errors), _payload(record))
            )
            continue
        assert record_id is not None
        ids.append(record_id)
        labels.append(label)
        times.append(ts)
    out.table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "label": pa.array(labels, ARROW_TYPES[storage]),
            "timestamp": pa.array(times, pa.timestamp("us")),
        }
    )
    return out
