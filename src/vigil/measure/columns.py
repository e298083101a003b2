"""One column of a set as the statistics need it: sorted finite numbers, or category counts.

Each column is converted and sorted once; every measure of the column then reads the same
sorted array (the KS statistic, the quantile edges, the histogram counts, the Wasserstein
distance and the quality checks all work on sorted data in linear or logarithmic time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.profile import CategoricalProfile
from vigil.spec.types import Kind
from vigil.spec.values import category_strings, is_text

# A text cell that reads as a number. In a mostly numeric column the cells that do not are
# counted as type mismatches instead of turning the whole column into text.
NUMBER_PATTERN = (
    r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?"
    r"|inf|Infinity|nan|NaN)\s*$"
)
MIXED_NUMERIC_MIN_SHARE = 0.5
_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@dataclass(frozen=True, slots=True)
class NumericSample:
    """The raw numbers of one column: finite values sorted, and what was left out."""

    values: NDArray[np.float64]  # finite values, ascending
    rows: int
    missing: int  # null or NaN
    infinite: int  # +/-inf
    type_mismatches: int  # cells that were not numbers (counted as missing too)


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
    elif pa.types.is_timestamp(t):
        scale = _SECONDS_PER_UNIT[t.unit]
        column = pc.multiply(pc.cast(pc.cast(column, pa.int64()), pa.float64()), scale)
    elif pa.types.is_date(t):
        column = pc.multiply(
            pc.cast(pc.cast(column, pa.date32()).cast(pa.int32()), pa.float64()), 86400.0
        )
    elif is_text(column):
        column, mismatches = text_to_float(column)
        if is_text(column):  # mostly not numbers: nothing can be read
            return np.full(len(column), np.nan), len(column) - column.null_count
    elif pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        column = pc.cast(column, pa.float64())
    elif not pa.types.is_floating(t):
        return np.full(len(column), np.nan), len(column) - column.null_count
    if column.type != pa.float64():
        column = pc.cast(column, pa.float64())
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


def category_profile(column: pa.ChunkedArray) -> CategoricalProfile:
    """Counts of each category of a column (as strings) and its missing count.

    Values are counted as they are and only the distinct values are turned into strings:
    casting a million integers to text costs more than all the counting.
    """
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
