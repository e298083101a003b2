"""What runs on the executors: a partition's Arrow batches summarised per group key.

Each Spark task calls `summarise` with its partition's record batches. The rows are split by
group key — the time window their timestamp falls in (when the plan has windows) and, for
each segment column, the segment their value belongs to — and each group's rows feed one
mergeable summary (`ReferenceSketch` in a reference's first pass, `Summary` after). The task
yields one small row per group key holding the serialized summary, never the rows. `merge`
runs after Spark shuffled those rows by key, so that each key arrives at the driver once.

This module imports pyarrow and vigil only (no pyspark): the executors' Python workers
unpickle `Plan` and call these functions, and tests call them without Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.errors import InputError, NotEnoughData, SpecError, VigilError
from vigil.profile import CategoricalProfile, DatasetProfile, NumericProfile
from vigil.spec import Spec
from vigil.spec.values import category_strings
from vigil.summaries import ReferenceSketch, Summary

Stage = Literal["sketch", "summary"]
Layout = Mapping[str, NumericProfile | CategoricalProfile] | DatasetProfile
Accumulator = ReferenceSketch | Summary
WHOLE = ""  # the segment name of a group holding every row of its window
OTHER = "other"  # the segment value of every value outside the top ones, missing included

# One row per group key; `summary` is null on a row that only counts rows without a
# timestamp (`untimed`), and on a row that reports an error raised on purpose.
SCHEMA = pa.schema(
    [
        pa.field("window", pa.int64()),  # the window's start, microseconds since the epoch
        pa.field("segment", pa.string()),  # the segment column; "" for the whole window
        pa.field("value", pa.string()),  # the segment's value; "" for the whole window
        pa.field("rows", pa.int64()),
        pa.field("summary", pa.binary()),
        pa.field("untimed", pa.int64()),
        pa.field("error", pa.string()),  # "<VigilError class>: <message>"
    ]
)
SPARK_SCHEMA = (
    "window long, segment string, value string, rows long, summary binary, untimed long, "
    "error string"
)
ERRORS: dict[str, type[VigilError]] = {
    cls.__name__: cls for cls in (VigilError, SpecError, InputError, NotEnoughData)
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a task does with its rows: which summary, on which layout, grouped how.

    `layouts` maps a group's (segment column, value) to the layout its `Summary` is built
    on (("", "") for the whole); a segment missing there uses the whole's layout. `tops`
    maps each segment column to its values judged on their own; every other value, and a
    missing one, is the segment `other`.
    """

    stage: Stage
    spec: Spec
    layouts: Mapping[tuple[str, str], Layout] = field(default_factory=dict)
    every_us: int | None = None  # window length in microseconds; None: one group for all rows
    timestamp: str | None = None  # the column windows read
    tops: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def empty(self, segment: str, value: str) -> Accumulator:
        """A new accumulator for the group of this segment value."""
        if self.stage == "sketch":
            return ReferenceSketch.empty(self.spec)
        layout = self.layouts.get((segment, value), self.layouts[(WHOLE, WHOLE)])
        return Summary.empty(layout, self.spec)


Key = tuple[int | None, str, str]


def summarise(batches: Iterable[pa.RecordBatch], plan: Plan) -> Iterator[pa.RecordBatch]:
    """One partition's rows as one summary per group key (the function `mapInArrow` runs).

    An error vigil raises on purpose (a column that cannot be read as its kind, a timestamp
    of the wrong type) comes back as a row naming it, so the driver raises it as it is
    rather than as a Spark stack trace.
    """
    found: dict[Key, Accumulator] = {}
    counts: dict[Key, int] = {}
    untimed = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for key, part in groups(batch, plan):
                if key[0] is None and plan.every_us is not None:
                    untimed += part.num_rows if key[1] == WHOLE else 0
                    continue
                if key not in found:
                    found[key] = plan.empty(key[1], key[2])
                    counts[key] = 0
                found[key].add(part)
                counts[key] += part.num_rows
    except VigilError as err:
        yield _error_row(err)
        return
    yield _rows(found, counts, untimed)


def merge(batches: Iterable[pa.RecordBatch], stage: Stage) -> Iterator[pa.RecordBatch]:
    """Rows of `summarise` merged by group key (run after a shuffle by key)."""
    parts: dict[Key, list[bytes]] = {}
    counts: dict[Key, int] = {}
    untimed = 0
    errors: list[str] = []
    for batch in batches:
        for row in batch.to_pylist():
            if row["error"] is not None:
                errors.append(row["error"])
            elif row["summary"] is None:
                untimed += row["untimed"] or 0
            else:
                key = (row["window"], row["segment"], row["value"])
                parts.setdefault(key, []).append(row["summary"])
                counts[key] = counts.get(key, 0) + row["rows"]
    if errors:
        yield pa.RecordBatch.from_pylist(
            [_error_dict(message) for message in sorted(set(errors))], schema=SCHEMA
        )
        return
    try:
        merged = {key: merged_bytes(data, stage) for key, data in parts.items()}
    except VigilError as err:
        yield _error_row(err)
        return
    yield _rows(merged, counts, untimed)


def merged_bytes(parts: Iterable[bytes], stage: Stage) -> Accumulator:
    """The serialized summaries of one group key, read back and merged into one."""
    if stage == "sketch":
        return reduce(ReferenceSketch.merge, (ReferenceSketch.from_bytes(d) for d in parts))
    return reduce(Summary.merge, (Summary.from_bytes(d) for d in parts))


def groups(batch: pa.RecordBatch, plan: Plan) -> Iterator[tuple[Key, pa.RecordBatch]]:
    """The batch's rows split by group key: (window start or None, segment, value).

    Every row is in one whole-window group and, per segment column, in one segment group.
    Rows keep their order within a group.
    """
    if plan.every_us is None or plan.timestamp is None:
        windows: list[tuple[int | None, pa.RecordBatch]] = [(None, batch)]
    else:
        windows = list(_by_window(batch, plan.timestamp, plan.every_us))
    for window, rows in windows:
        yield (window, WHOLE, WHOLE), rows
        for column, top in plan.tops.items():
            if column not in rows.schema.names:
                continue
            for value, part in _by_segment(rows, column, top):
                yield (window, column, value), part


def window_starts(column: pa.Array | pa.ChunkedArray, every_us: int) -> NDArray[np.int64]:
    """Each timestamp's window start in microseconds since the epoch (windows aligned on
    the epoch, UTC), and the smallest int64 for a missing timestamp."""
    t = column.type
    if pa.types.is_dictionary(t):
        column, t = pc.cast(column, t.value_type), t.value_type
    if pa.types.is_date(t):
        column = pc.cast(column, pa.timestamp("us"))
    elif pa.types.is_timestamp(t):
        column = pc.cast(column, pa.timestamp("us", t.tz))
    else:
        raise SpecError(
            f"the timestamp column holds {t}, not times; windows need a timestamp or date "
            f"column. Convert it (e.g. `to_timestamp` in Spark) or name another with "
            f"`role: timestamp` in the spec."
        )
    values = pc.cast(column, pa.int64()).fill_null(np.iinfo(np.int64).min)
    micros = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.floor_divide(micros, every_us) * every_us
    starts[micros == np.iinfo(np.int64).min] = np.iinfo(np.int64).min
    return np.asarray(starts, dtype=np.int64)


def _by_window(
    batch: pa.RecordBatch, timestamp: str, every_us: int
) -> Iterator[tuple[int | None, pa.RecordBatch]]:
    if timestamp not in batch.schema.names:
        raise SpecError(
            f"the timestamp column {timestamp!r} is not in the current set; windows need it. "
            f"Its columns are {', '.join(batch.schema.names)}."
        )
    starts = window_starts(batch.column(timestamp), every_us)
    for start, part in _split(batch, starts):
        yield (None if start == np.iinfo(np.int64).min else int(start)), part


def _by_segment(
    batch: pa.RecordBatch, column: str, top: tuple[str, ...]
) -> Iterator[tuple[str, pa.RecordBatch]]:
    strings = category_strings(pa.chunked_array([batch.column(column)]))
    known = pc.fill_null(pc.is_in(strings, value_set=pa.array(top, pa.string())), False)
    labels = pc.if_else(known, strings, pa.scalar(OTHER)).combine_chunks()
    encoded = pc.dictionary_encode(labels)
    names = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    for code, part in _split(batch, codes):
        yield names[int(code)], part


def _split(
    batch: pa.RecordBatch, keys: NDArray[np.int64]
) -> Iterator[tuple[np.int64, pa.RecordBatch]]:
    """The batch's rows by key, in the keys' order, rows in their order within a key."""
    distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if len(distinct) == 1:
        yield distinct[0], batch
        return
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(counts)
    for i, key in enumerate(distinct):
        yield key, batch.take(pa.array(order[ends[i] - counts[i] : ends[i]]))


def _rows(
    found: Mapping[Key, Accumulator], counts: Mapping[Key, int], untimed: int
) -> pa.RecordBatch:
    rows: list[dict[str, Any]] = [
        {
            "window": window,
            "segment": segment,
            "value": value,
            "rows": counts[(window, segment, value)],
            "summary": acc.to_bytes(),
            "untimed": None,
            "error": None,
        }
        for (window, segment, value), acc in found.items()
    ]
    if untimed:
        rows.append(_untimed_dict(untimed))
    return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)


def _untimed_dict(count: int) -> dict[str, Any]:
    return {
        "window": None,
        "segment": None,
        "value": None,
        "rows": None,
        "summary": None,
        "untimed": count,
        "error": None,
    }


def _error_dict(message: str) -> dict[str, Any]:
    return {**_untimed_dict(0), "untimed": None, "error": message}


def _error_row(err: VigilError) -> pa.RecordBatch:
    name = type(err).__name__ if type(err).__name__ in ERRORS else VigilError.__name__
    return pa.RecordBatch.from_pylist([_error_dict(f"{name}: {err}")], schema=SCHEMA)
