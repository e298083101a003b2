"""One column of a set as the statistics need it: sorted finite numbers, or category counts.

Each column is converted and sorted once; every measure of the column then reads the same
sorted array (the KS statistic, the quantile edges, the histogram counts, the Wasserstein
distance and the quality checks all work on sorted data in linear or logarithmic time).

The readers of a kind (`text_to_float`, `text_to_time`, `time_column`, `boolean_column`)
return the column in the kind's Arrow type and the number of cells that could not be read,
which became missing: a reference is conformed with them (`vigil.measure.reference`), and the
current set is read with them, so both sides read a value the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.profile import CategoricalProfile
from vigil.spec.types import Kind
from vigil.spec.values import category_strings, is_text
from vigil.stats import SortedSample

# A text cell that reads as a number. In a mostly numeric column the cells that do not are
# counted as type mismatches instead of turning the whole column into text.
NUMBER_PATTERN = (
    r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?"
    r"|inf|Infinity|nan|NaN)\s*$"
)
MIXED_NUMERIC_MIN_SHARE = 0.5
# How vigil keeps a time: microseconds since the epoch, in UTC (a naive time is taken as UTC).
TIME_TYPE = pa.timestamp("us", tz="UTC")
# A text cell that reads as an ISO-8601 date or time (the forms Arrow parses), with an
# optional zone; and the zone alone.
TIME_PATTERN = (
    r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}([.]\d+)?)?)?)?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2})?\s*$"
)
_ZONE_PATTERN = r"([Zz]|[+-]\d{2}:?\d{2})\s*$"
# Epoch seconds read as times only within the years 1 to 9999 (about ±2.5e11 s).
_MAX_EPOCH_SECONDS = 253_402_300_799.0
_TRUE_WORDS = frozenset({"true", "1", "1.0"})
_FALSE_WORDS = frozenset({"false", "0", "0.0"})


@dataclass(frozen=True, slots=True)
class NumericSample:
    """The raw numbers of one column: finite values sorted, and what was left out."""

    values: NDArray[np.float64]  # finite values, ascending
    rows: int
    missing: int  # null or NaN
    infinite: int  # +/-inf
    type_mismatches: int  # cells that were not numbers (counted as missing too)
    # `values` with what the kernels read of them kept (std, prefix integral, distinct
    # shares): a reference kept between windows pays for each once
    sorted: SortedSample = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sorted", SortedSample(self.values))


def text_to_float(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int]:
    """A text column that is mostly numbers as float64; other cells become null and are counted.

    A column where fewer than half the cells are numbers is returned unchanged with 0.
    """
    non_null = len(column) - column.null_count
    if non_null == 0 or not is_text(column):
        return column, 0
    is_number = pc.match_substring_regex(column, NUMBER_PATTERN)
    n_numbers = pc.sum(is_number).as_py() or 0
    if n_numbers == non_null:
        return pc.cast(column, pa.float64()), 0
    if n_numbers / non_null < MIXED_NUMERIC_MIN_SHARE:
        return column, 0
    kept = pc.if_else(is_number, column, pa.scalar(None, column.type))
    return pc.cast(kept, pa.float64()), non_null - n_numbers


def text_to_time(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int]:
    """A text column that is mostly ISO-8601 times as `TIME_TYPE`; other cells become null and
    are counted. A time without a zone is taken as UTC; digits past the microsecond are cut.

    A column where fewer than half the cells read as times is returned unchanged with 0.

    >>> times, bad = text_to_time(pa.chunked_array([["2024-01-01T10:00:00+01:00", "soon"]]))
    >>> [t.isoformat() for t in times.drop_null().to_pylist()], bad
    (['2024-01-01T09:00:00+00:00'], 1)
    """
    non_null = len(column) - column.null_count
    if non_null == 0 or not is_text(column):
        return column, 0
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    is_time = pc.match_substring_regex(text, TIME_PATTERN)
    n_times = pc.sum(is_time).as_py() or 0
    if n_times / non_null < MIXED_NUMERIC_MIN_SHARE:
        return column, 0
    kept = pc.if_else(is_time, text, pa.scalar(None, pa.string()))
    kept = pc.replace_substring_regex(kept, r"([.]\d{6})\d+", r"\1")  # Arrow stops at µs
    kept = pc.replace_substring_regex(kept, r"z$", "Z")
    zoned = pc.fill_null(pc.match_substring_regex(kept, _ZONE_PATTERN), False)
    null_text = pa.scalar(None, pa.string())
    aware, bad_aware = _cast_each(pc.if_else(zoned, kept, null_text), TIME_TYPE)
    naive, bad_naive = _cast_each(pc.if_else(zoned, null_text, kept), pa.timestamp("us"))
    times = pc.coalesce(aware, pc.cast(naive, TIME_TYPE))
    return times, (non_null - n_times) + bad_aware + bad_naive


def _cast_each(column: pa.ChunkedArray, to: pa.DataType) -> tuple[pa.ChunkedArray, int]:
    """`column` cast to `to`, the cells that do not cast (a 30 February) null and counted.

    Halves are cast until the bad cells are alone: k bad cells cost about k·log n casts.
    """
    out: list[pa.Array] = []
    bad = 0
    pending = [chunk for chunk in column.chunks if len(chunk)]
    while pending:
        part = pending.pop()
        try:
            out.append(pc.cast(part, to))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if len(part) == 1:
                out.append(pa.nulls(1, to))
                bad += 1
            else:
                middle = len(part) // 2
                pending += [part.slice(0, middle), part.slice(middle)]
    # `pending` is a stack: the parts were cast back to front.
    return pa.chunked_array(out[::-1], type=to), bad


def time_column(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray | None, int]:
    """The column as `TIME_TYPE` and the number of cells that are not times, or None when its
    type holds no times at all (lists, structs, booleans, text that is mostly not times).

    Timestamps of any unit and zone, dates (midnight UTC), ISO-8601 text and epoch seconds are
    read; a naive time is taken as UTC.
    """
    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
        t = column.type
    non_null = len(column) - column.null_count
    if pa.types.is_null(t) or non_null == 0:
        return pa.chunked_array([pa.nulls(len(column), TIME_TYPE)]), 0
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        # safe=False: nanoseconds are cut to microseconds, as the store keeps them
        return pc.cast(column, TIME_TYPE, safe=False), 0
    if is_text(column):
        times, bad = text_to_time(column)
        return (times, bad) if times.type == TIME_TYPE else (None, non_null)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        seconds = np.asarray(
            pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(), dtype=np.float64
        )
        readable = np.isfinite(seconds) & (np.abs(seconds) <= _MAX_EPOCH_SECONDS)
        unreadable = int(np.count_nonzero(~readable & ~np.isnan(seconds)))  # NaN is missing
        micros = np.where(readable, np.round(seconds * 1e6), 0).astype(np.int64)
        times = pa.array(micros, pa.int64(), mask=~readable).cast(TIME_TYPE)
        return pa.chunked_array([times]), unreadable
    return None, non_null


def boolean_column(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray | None, int]:
    """The column as booleans and the number of cells that are not, or None when it is mostly
    not booleans. Read as booleans: true/false, 1/0 (numbers or text), "true"/"false" in any
    case.
    """
    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
        t = column.type
    non_null = len(column) - column.null_count
    if pa.types.is_boolean(t):
        return column, 0
    if pa.types.is_null(t) or non_null == 0:
        return pa.chunked_array([pa.nulls(len(column), pa.bool_())]), 0
    if not (is_text(column) or pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None, non_null
    words = pc.utf8_lower(pc.utf8_trim_whitespace(category_strings(column)))
    is_true = pc.is_in(words, value_set=pa.array(sorted(_TRUE_WORDS)))
    is_false = pc.is_in(words, value_set=pa.array(sorted(_FALSE_WORDS)))
    readable = pc.or_(is_true, is_false)
    n_readable = pc.sum(readable).as_py() or 0
    if n_readable / non_null < MIXED_NUMERIC_MIN_SHARE:
        return None, non_null
    return pc.if_else(readable, is_true, pa.scalar(None, pa.bool_())), non_null - n_readable


def numeric_array(column: pa.ChunkedArray, kind: Kind) -> tuple[NDArray[np.float64], int]:
    """The column as float64 with NaN for missing, and the number of cells that were not numbers.

    Datetimes become seconds since the epoch and text its length in characters, as the spec's
    kinds say (docs/spec.md).
    """
    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
        t = column.type
    mismatches = 0
    if kind == "text":
        column = pc.cast(pc.utf8_length(pc.cast(column, pa.string())), pa.float64())
    elif kind == "datetime" and is_text(column):
        times, mismatches = text_to_time(column)
        if times.type != TIME_TYPE:  # mostly not times: nothing can be read
            return np.full(len(column), np.nan), len(column) - column.null_count
        return numeric_array(times, kind)[0], mismatches
    elif pa.types.is_timestamp(t) or pa.types.is_date(t):
        # Every unit through microseconds, divided (not multiplied by an inexact 1e-6): one
        # instant is one float whether it came as a date, seconds, ms, µs or ns.
        micros = pc.cast(pc.cast(column, TIME_TYPE, safe=False), pa.int64())
        column = pc.divide(pc.cast(micros, pa.float64(), safe=False), 1e6)
    elif is_text(column):
        column, mismatches = text_to_float(column)
        if is_text(column):  # mostly not numbers: nothing can be read
            return np.full(len(column), np.nan), len(column) - column.null_count
    elif pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        # unsafe: integers beyond 2^53 (ids, hashes, nanosecond counts) round to the nearest
        # float64 instead of failing the column; every measure here works in float64
        column = pc.cast(column, pa.float64(), safe=False)
    elif not pa.types.is_floating(t):
        return np.full(len(column), np.nan), len(column) - column.null_count
    if column.type != pa.float64():
        column = pc.cast(column, pa.float64(), safe=False)
    if column.null_count:
        column = pc.fill_null(column, np.nan)
    return np.asarray(column.to_numpy(), dtype=np.float64), mismatches


def numeric_sample(column: pa.ChunkedArray, kind: Kind) -> NumericSample:
    """Sorted finite values of a column, with its missing and infinite counts."""
    values, mismatches = numeric_array(column, kind)
    nan = np.isnan(values)
    n_nan = int(nan.sum())
    finite = values[~nan] if n_nan else values
    inf = np.isinf(finite)
    n_inf = int(inf.sum())
    if n_inf:
        finite = finite[~inf]
    return NumericSample(
        values=np.sort(finite),
        rows=len(values),
        missing=n_nan,
        infinite=n_inf,
        type_mismatches=mismatches,
    )


def nan_as_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A floating column with its NaN cells null (other columns unchanged)."""
    if not pa.types.is_floating(column.type):
        return column
    is_nan = pc.fill_null(pc.is_nan(column), False)
    if not pc.any(is_nan).as_py():
        return column
    return pc.if_else(is_nan, pa.scalar(None, column.type), column)


def category_profile(column: pa.ChunkedArray) -> CategoricalProfile:
    """Counts of each category of a column (as strings) and its missing count.

    Values are counted as they are and only the distinct values are turned into strings:
    casting a million integers to text costs more than all the counting. NaN is missing, as
    in numeric columns (pandas writes a missing label of a float column as NaN).
    """
    column = nan_as_null(column)
    missing = column.null_count
    counts: dict[str, int] = {}
    if len(column) - missing:
        vc = pc.value_counts(column.drop_null() if missing else column)
        names = category_strings(pa.chunked_array([vc.field("values")])).to_pylist()
        for name, n in zip(names, vc.field("counts").to_pylist(), strict=True):
            counts[name] = counts.get(name, 0) + n  # -0.0 and 0.0 are one category
    return CategoricalProfile(count=len(column) - missing, missing=missing, counts=counts)


def category_codes(column: pa.ChunkedArray, labels: tuple[str, ...]) -> NDArray[np.int64]:
    """The position of each value's string in `labels`, or -1 (missing or not a label)."""
    distinct = pc.unique(column).drop_null()
    names = category_strings(pa.chunked_array([distinct])).to_pylist()
    position = {label: i for i, label in enumerate(labels)}
    lookup = np.array([position.get(name, -1) for name in names] + [-1], dtype=np.int64)
    index = pc.index_in(column, value_set=distinct)  # null for missing values
    positions = np.asarray(pc.fill_null(index, len(names)).to_numpy(zero_copy_only=False))
    codes: NDArray[np.int64] = lookup[positions]
    return codes


def token_profile(column: pa.ChunkedArray) -> CategoricalProfile:
    """Counts of the lower-cased word tokens of a text column: its vocabulary."""
    text = pc.utf8_lower(pc.cast(column, pa.string()))
    tokens = pc.list_flatten(pc.split_pattern_regex(text, r"[^\w]+"))
    tokens = pc.filter(tokens, pc.not_equal(tokens, ""))
    counts: dict[str, int] = {}
    if len(tokens):
        vc = pc.value_counts(tokens)
        counts = dict(
            zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)
        )
    return CategoricalProfile(count=len(tokens), missing=column.null_count, counts=counts)
