"""Data quality of the current set against the reference and the spec: numbers only.

Each column gets its shares (missing, infinite, out of range, unseen, outliers) and, for each
check, the p-value of a one-sided test of whether the share is beyond what sampling explains
(vigil.stats.sampling; the rules are in docs/statistics.md); `vigil.measure.significance`
corrects them together with the drift tests of the report. The statuses are decided in
`vigil.verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.measure.columns import NumericSample
from vigil.profile import CategoricalProfile, NumericProfile, iqr_fences
from vigil.spec import ColumnSpec, Kind, Role
from vigil.spec.values import is_text
from vigil.stats import (
    SortedSample,
    TestResult,
    beyond_range_test,
    constant_chance,
    excess_count_test,
    quantiles_of_sorted,
    share_increase_test,
)


@dataclass(frozen=True, slots=True)
class ColumnQuality:
    """Missing, malformed, out-of-range and unexpected values in one column."""

    column: str
    kind: Kind
    role: Role
    reference_missing_share: float
    missing_share: float  # null or NaN rows of the current set / its rows
    type_mismatches: int  # current values that could not be read as the column's kind
    infinite_share: float | None  # numeric columns: +/-inf rows / rows
    out_of_range_share: float | None  # numeric: finite values outside [range_low, range_high]
    range_low: float | None
    range_high: float | None
    range_source: str | None  # "spec" (bounds given) or "reference" (its min and max)
    unseen_categories: tuple[
        str, ...
    ]  # categorical: up to 20 current values absent from the reference
    n_unseen_categories: int
    unseen_share: float | None  # share of current non-missing rows holding an unseen category
    is_constant: bool  # the current set holds exactly one distinct non-missing value
    reference_is_constant: bool
    outlier_share: float | None  # numeric: outside the reference's [Q1 - 1.5 IQR, Q3 + 1.5 IQR]
    reference_outlier_share: float | None
    reference_stats: dict[
        str, float | str | None
    ]  # summary: min/max/mean/std/median or distinct/top
    current_stats: dict[str, float | str | None]
    error: str | None  # why the column could not be checked; None when it was
    # check -> p-value of "this share is sampling noise" (missing_increase, out_of_range,
    # unseen_share, outlier_increase, type_mismatch, constant); and after the correction
    p_values: dict[str, float] = field(default_factory=dict)
    p_values_adjusted: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TypeChange:
    """A column whose type differs between the sets."""

    column: str
    reference_type: str
    current_type: str


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """Columns that went missing, appeared, or changed type."""

    missing_columns: tuple[str, ...]  # expected (spec or reference) but absent from the current set
    new_columns: tuple[str, ...]  # in the current set but not in the spec or reference
    type_changes: tuple[TypeChange, ...]


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Quality of every column plus dataset-level findings."""

    columns: dict[str, ColumnQuality]
    schema: SchemaChange
    reference_rows: int
    current_rows: int
    duplicate_rows: int  # current rows identical to an earlier current row (all columns)
    duplicate_row_share: float
    duplicate_ids: int | None  # current rows whose id was seen before in the set; None: no id
    # p-value that the duplicate share is sampling noise, compared with the reference's share
    # at the same size (None without a raw reference), and after the correction
    # the reference's duplicate share and the current's increase over it, both at the smaller
    # set's size (without a raw reference: 0 and the current share)
    reference_duplicate_row_share: float = 0.0
    duplicate_row_increase: float = 0.0
    duplicate_rows_p_value: float | None = None
    duplicate_rows_p_value_adjusted: float | None = None


@dataclass(frozen=True, slots=True)
class CurrentNumeric:
    """A current numeric column as a summary keeps it instead of its values (`vigil.summaries`).

    `profile` is built like the reference profile (its edges and fences, so `outliers` counts
    the values outside the reference's fences); `outside` maps a range (low, high) to the
    number of finite values below low or above high, for the ranges the checks ask about
    (the reference's [min, max] and the spec's bounds, open ends as ∓inf).
    """

    profile: NumericProfile
    rows: int
    type_mismatches: int
    outside: dict[tuple[float, float], int]


# --- checking -------------------------------------------------------------------------------

UNSEEN_LISTED = 20  # unseen categories named in the report; the rest are counted


def _share(part: int | float, whole: int | float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _numeric_stats(sample: SortedSample) -> dict[str, float | str | None]:
    """min, max, mean, std and median of a sorted sample (its mean and std kept in it)."""
    values = sample.values
    if values.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "median": None}
    return {
        "min": float(values[0]),
        "max": float(values[-1]),
        "mean": sample.mean,
        "std": sample.std if values.size > 1 else None,
        "median": median_of_sorted(values),
    }


def median_of_sorted(values: NDArray[np.float64]) -> float:
    """`quantiles_of_sorted(values, [0.5])[0]` (numpy's quantile 0.5, bit for bit) of a
    non-empty sorted sample, with the same floating-point steps on Python floats: ten numpy
    calls on one element cost more than the rest of a window column's summary."""
    last = values.size - 1
    position = last * 0.5
    below = math.floor(position)
    weight = position - below
    lower, upper = float(values[below]), float(values[min(below + 1, last)])
    step = upper - lower
    return upper - step * (1.0 - weight) if weight >= 0.5 else lower + step * weight


def _reference_outliers(ref: NDArray[np.float64]) -> tuple[float, float, int | None]:
    """The reference's IQR fences and how many of its values lie outside them."""
    if not ref.size:
        return float("nan"), float("nan"), None
    q1, q3 = (float(x) for x in quantiles_of_sorted(ref, np.array([0.25, 0.75])))
    low_f, high_f = iqr_fences(q1, q3)
    return low_f, high_f, _outside(ref, low_f, high_f)


def _outside(values: NDArray[np.float64], low: float, high: float) -> int:
    """How many sorted values lie below low or above high."""
    return int(
        np.searchsorted(values, low, side="left")
        + values.size
        - np.searchsorted(values, high, side="right")
    )


def numeric_quality(
    column: ColumnSpec,
    reference: NumericSample | NumericProfile,
    current: NumericSample | CurrentNumeric,
    *,
    reference_mismatches: int = 0,
) -> ColumnQuality:
    """Missing, infinite, out-of-range, outlier and constant checks of a numeric column.

    A reference profile keeps its IQR fences and how many of its values lie outside them;
    `reference_mismatches` is how many of its cells could not be read (a sample counts its
    own), so the checks against a profile are those against its rows. A `CurrentNumeric`
    (a summary of the current set) gives the same checks without the current values.
    """
    if isinstance(current, CurrentNumeric):
        return _summary_quality(column, reference, current, reference_mismatches)
    cur = current.values
    ref_outlier_count: int | None = None
    if isinstance(reference, NumericSample):
        ref = reference.values
        ref_rows, ref_missing, ref_finite = reference.rows, reference.missing, ref.size
        ref_mismatches = reference.type_mismatches
        ref_min = float(ref[0]) if ref.size else None
        ref_max = float(ref[-1]) if ref.size else None
        low_f, high_f, ref_outlier_count = reference.sorted.kept(
            ("outliers",), lambda: _reference_outliers(ref)
        )
        ref_constant = ref.size == 0 or bool(ref[0] == ref[-1])
        ref_stats = dict(
            reference.sorted.kept(("stats",), lambda: _numeric_stats(reference.sorted))
        )
    else:
        ref_rows = reference.count + reference.missing + reference.infinite
        ref_missing, ref_finite = reference.missing, reference.count
        ref_mismatches = reference_mismatches
        ref_min = reference.min if reference.count else None
        ref_max = reference.max if reference.count else None
        if reference.count:
            low_f, high_f = reference.fences
            ref_outlier_count = reference.outliers
        else:
            low_f = high_f = float("nan")
        ref_constant = reference.count == 0 or bool(reference.min == reference.max)
        ref_stats = {
            "min": ref_min,
            "max": ref_max,
            "mean": reference.mean if reference.count else None,
            "std": reference.std if reference.count > 1 else None,
            "median": reference.quantiles.get("median"),
        }
    p_values: dict[str, float] = {}
    p_values["missing_increase"] = share_increase_test(
        ref_missing, ref_rows, current.missing, current.rows
    ).p_value
    p_values["type_mismatch"] = share_increase_test(
        min(ref_mismatches, ref_rows), ref_rows, current.type_mismatches, current.rows
    ).p_value
    low, high, source = ref_min, ref_max, "reference"
    if column.bounds is not None:
        low, high, source = column.bounds[0], column.bounds[1], "spec"
    out_of_range = None
    if cur.size and (low is not None or high is not None):
        n_out = _outside(cur, -np.inf if low is None else low, np.inf if high is None else high)
        out_of_range = _share(n_out, cur.size)
        test: TestResult | None = None
        if source == "reference":
            test = beyond_range_test(ref_finite, cur.size, n_out)
        elif isinstance(reference, NumericSample):
            ref_out = _outside(
                reference.values, -np.inf if low is None else low, np.inf if high is None else high
            )
            test = share_increase_test(ref_out, ref_finite, n_out, cur.size)
        if test is not None:
            p_values["out_of_range"] = test.p_value
    outliers = None
    if cur.size and not np.isnan(low_f):
        n_outliers = _outside(cur, low_f, high_f)
        outliers = _share(n_outliers, cur.size)
        if ref_outlier_count is not None:
            p_values["outlier_increase"] = share_increase_test(
                ref_outlier_count, ref_finite, n_outliers, cur.size
            ).p_value
    is_constant = cur.size > 0 and bool(cur[0] == cur[-1])
    if is_constant and cur.size and not ref_constant and isinstance(reference, NumericSample):
        p_values["constant"] = constant_chance(reference.sorted.run_shares, cur.size)
    return ColumnQuality(
        column=column.name,
        kind=column.kind,
        role=column.role,
        reference_missing_share=_share(ref_missing, ref_rows),
        missing_share=_share(current.missing, current.rows),
        type_mismatches=current.type_mismatches,
        infinite_share=_share(current.infinite, current.rows),
        out_of_range_share=out_of_range,
        range_low=low,
        range_high=high,
        range_source=source,
        unseen_categories=(),
        n_unseen_categories=0,
        unseen_share=None,
        is_constant=is_constant,
        reference_is_constant=ref_constant,
        outlier_share=outliers,
        reference_outlier_share=(
            None if ref_outlier_count is None else _share(ref_outlier_count, ref_finite)
        ),
        reference_stats=ref_stats,
        current_stats=_numeric_stats(current.sorted),
        error=None,
        p_values=p_values,
    )


def _summary_quality(
    column: ColumnSpec,
    reference: NumericSample | NumericProfile,
    current: CurrentNumeric,
    reference_mismatches: int,
) -> ColumnQuality:
    """`numeric_quality` of a current summary against a reference profile."""
    if not isinstance(reference, NumericProfile):
        raise ValueError("a current summary is checked against a reference profile")
    profile = current.profile
    missing = profile.missing
    # the numbers numeric_quality reads of the values, from the summary
    sample = NumericSample(
        np.empty(0), current.rows, missing, profile.infinite, current.type_mismatches
    )
    quality = numeric_quality(column, reference, sample, reference_mismatches=reference_mismatches)
    p_values = dict(quality.p_values)
    n = profile.count
    low, high = quality.range_low, quality.range_high
    out_of_range = None
    if n and (low is not None or high is not None):
        key = (-math.inf if low is None else float(low), math.inf if high is None else float(high))
        if key not in current.outside:
            raise ValueError(
                f"the current summary did not count the values outside [{key[0]}, {key[1]}]; "
                "build it like this reference profile and spec"
            )
        n_out = current.outside[key]
        out_of_range = _share(n_out, n)
        if quality.range_source == "reference":
            p_values["out_of_range"] = beyond_range_test(reference.count, n, n_out).p_value
    outliers = None
    if (
        n
        and reference.count
        and not math.isnan(reference.fences[0])
        and profile.outliers is not None
    ):
        if profile.fences != reference.fences:
            raise ValueError(
                "the current summary was built on other outlier fences than the reference's"
            )
        outliers = _share(profile.outliers, n)
        if reference.outliers is not None:
            p_values["outlier_increase"] = share_increase_test(
                reference.outliers, reference.count, profile.outliers, n
            ).p_value
    stats: dict[str, float | str | None] = {
        "min": profile.min if n else None,
        "max": profile.max if n else None,
        "mean": profile.mean if n else None,
        "std": profile.std if n > 1 else None,
        "median": profile.quantiles["median"] if n else None,
    }
    return replace(
        quality,
        out_of_range_share=out_of_range,
        is_constant=n > 0 and profile.min == profile.max,
        outlier_share=outliers,
        current_stats=stats,
        p_values=p_values,
    )


def _category_stats(profile: CategoricalProfile) -> dict[str, float | str | None]:
    if not profile.counts:
        return {"distinct": 0, "top": None, "top_share": None}
    top = max(profile.counts.items(), key=lambda kv: (kv[1], kv[0]))
    return {
        "distinct": len(profile.counts),
        "top": top[0],
        "top_share": _share(top[1], profile.count),
    }


def unseen(
    reference: CategoricalProfile,
    current: CategoricalProfile,
) -> tuple[tuple[str, ...], int, float, float]:
    """Current categories the reference lacks: the most frequent few, how many, their share,
    and the p-value of that share being sampling noise.

    A category absent from the reference is expected now and then: by Good–Turing, the chance
    that a new draw falls in a category a sample of n never saw is about the share of
    categories seen once, f₁/n. The p-value is the binomial tail of the unseen rows against
    (f₁ + 1)/(n + 1).
    """
    new = sorted(
        ((n, v) for v, n in current.counts.items() if v not in reference.counts),
        key=lambda nv: (-nv[0], nv[1]),
    )
    rows = sum(n for n, _ in new)
    singletons = sum(1 for n in reference.counts.values() if n == 1)
    expected = (singletons + 1) / (reference.count + 1)
    p_value = excess_count_test(rows, current.count, min(expected, 1.0)).p_value
    return tuple(v for _, v in new[:UNSEEN_LISTED]), len(new), _share(rows, current.count), p_value


def categorical_quality(
    column: ColumnSpec,
    reference: CategoricalProfile,
    current: CategoricalProfile,
    *,
    type_mismatches: int = 0,
) -> ColumnQuality:
    """Missing, unseen-category and constant checks of a categorical or boolean column."""
    listed, n_unseen, share, unseen_p = unseen(reference, current)
    ref_rows = reference.count + reference.missing
    cur_rows = current.count + current.missing
    p_values = {
        "missing_increase": share_increase_test(
            reference.missing, ref_rows, current.missing, cur_rows
        ).p_value,
        "type_mismatch": share_increase_test(0, ref_rows, type_mismatches, cur_rows).p_value,
    }
    if current.count:
        p_values["unseen_share"] = unseen_p
    is_constant = len(current.counts) == 1
    if is_constant and current.count and len(reference.counts) > 1:
        shares = [n / reference.count for n in reference.counts.values()]
        p_values["constant"] = constant_chance(shares, current.count)
    return ColumnQuality(
        column=column.name,
        kind=column.kind,
        role=column.role,
        reference_missing_share=_share(reference.missing, ref_rows),
        missing_share=_share(current.missing, cur_rows),
        type_mismatches=type_mismatches,
        infinite_share=None,
        out_of_range_share=None,
        range_low=None,
        range_high=None,
        range_source=None,
        unseen_categories=listed,
        n_unseen_categories=n_unseen,
        unseen_share=share if current.count else None,
        is_constant=is_constant,
        reference_is_constant=len(reference.counts) <= 1,
        outlier_share=None,
        reference_outlier_share=None,
        reference_stats=_category_stats(reference),
        current_stats=_category_stats(current),
        error=None,
        p_values=p_values,
    )


def with_vocabulary(
    quality: ColumnQuality, reference: CategoricalProfile, current: CategoricalProfile
) -> ColumnQuality:
    """A text column's quality with its vocabulary check: tokens the reference never used."""
    listed, n_unseen, share, p_value = unseen(reference, current)
    p_values = dict(quality.p_values)
    if current.count:
        p_values["unseen_share"] = p_value
    return replace(
        quality,
        unseen_categories=listed,
        n_unseen_categories=n_unseen,
        unseen_share=share if current.count else None,
        reference_stats={**quality.reference_stats, "vocabulary": len(reference.counts)},
        current_stats={**quality.current_stats, "vocabulary": len(current.counts)},
        p_values=p_values,
    )


def unchecked(column: ColumnSpec, reason: str) -> ColumnQuality:
    """A column whose quality could not be checked (e.g. absent from the current set)."""
    return ColumnQuality(
        column=column.name,
        kind=column.kind,
        role=column.role,
        reference_missing_share=0.0,
        missing_share=0.0,
        type_mismatches=0,
        infinite_share=None,
        out_of_range_share=None,
        range_low=None,
        range_high=None,
        range_source=None,
        unseen_categories=(),
        n_unseen_categories=0,
        unseen_share=None,
        is_constant=False,
        reference_is_constant=False,
        outlier_share=None,
        reference_outlier_share=None,
        reference_stats={},
        current_stats={},
        error=reason,
    )


def row_hashes(table: pa.Table, names: Sequence[str]) -> NDArray[np.uint64]:
    """One 64-bit hash per row of the named columns (dictionary codes for text).

    Two different rows collide with probability about n²/2⁶⁵ — below 1e-7 at a million rows.
    """
    row_hash = np.zeros(table.num_rows, dtype=np.uint64)
    for name in names:
        row_hash = (row_hash * np.uint64(0x9E3779B97F4A7C15)) ^ _value_codes(table.column(name))
        row_hash ^= row_hash >> np.uint64(29)
    return row_hash


def has_unique_column(table: pa.Table, names: Sequence[str]) -> bool:
    """True when the first floating-point column without missing values has no repeated value:
    then no two rows are equal, and hashing every row can be skipped (one sort instead)."""
    for name in names:
        column = table.column(name)
        if pa.types.is_floating(column.type) and column.null_count == 0:
            values = np.sort(column.to_numpy())
            return not bool(np.any(values[1:] == values[:-1]))
    return False


def duplicate_count(hashes: NDArray[np.uint64]) -> int:
    """Rows whose hash equals an earlier row's."""
    if hashes.size < 2:
        return 0
    ordered = np.sort(hashes)  # sort-and-compare: about 40x faster than np.unique on 1M uint64
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


def duplicate_rows_test(
    reference: NDArray[np.uint64], current: NDArray[np.uint64], *, seed: int = 0
) -> tuple[float, TestResult]:
    """The reference's duplicate share, and the test of the current's increase over it.

    Duplicates grow with a set's size (a few hundred rows of categorical data repeat less than
    a million do), so both sets are compared at the smaller one's size: a seeded random
    subset of the larger is taken, and the duplicate counts go through `share_increase_test`
    (whose statistic is then the increase at that size).
    """
    m = min(reference.size, current.size)
    if m < 2:
        return 0.0, TestResult(0.0, 1.0)
    rng = np.random.default_rng(seed)

    def at_size(hashes: NDArray[np.uint64]) -> NDArray[np.uint64]:
        return hashes if hashes.size == m else hashes[rng.choice(hashes.size, m, replace=False)]

    ref, cur = duplicate_count(at_size(reference)), duplicate_count(at_size(current))
    return ref / m, share_increase_test(ref, m, cur, m)


def _value_codes(column: pa.ChunkedArray) -> NDArray[np.uint64]:
    """One 64-bit code per value; equal values get equal codes, nulls their own code."""
    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
        t = column.type
    exact = pa.types.is_integer(t) or pa.types.is_boolean(t)
    if exact or pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_duration(t):
        # the integers themselves (a uint64 above 2^63 wraps, still one code per value)
        width = pa.int32() if pa.types.is_date32(t) or pa.types.is_boolean(t) else pa.int64()
        integers = pc.cast(pc.cast(column, width, safe=False), pa.int64(), safe=False)
        codes = np.asarray(pc.fill_null(integers, -(2**63)).to_numpy(zero_copy_only=False))
        return codes.astype(np.int64).view(np.uint64) * np.uint64(0x94D049BB133111EB)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        if column.type != pa.float64():
            column = pc.cast(column, pa.float64(), safe=False)
        if column.null_count:
            column = pc.fill_null(column, np.nan)
        values = np.asarray(column.to_numpy(), dtype=np.float64) + 0.0  # -0.0 + 0.0 is 0.0
        return values.view(np.uint64)
    encoded = pc.dictionary_encode(
        pc.cast(column, pa.string()) if not is_text(column) else column
    ).combine_chunks()
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.asarray(indices, dtype=np.int64).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)


def duplicate_ids(column: pa.ChunkedArray) -> int:
    """Non-missing ids that repeat an earlier row's id."""
    non_null = len(column) - column.null_count
    return int(non_null - pc.count_distinct(column, mode="only_valid").as_py())
