"""Data quality of the current set, judged against the reference and the spec."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.profile import CategoricalProfile, NumericProfile
from vigil.sample import NumericSample, is_text
from vigil.spec import ColumnSpec, Kind, Role
from vigil.stats import quantiles_of_sorted


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
    is_constant: bool  # the current set holds at most one distinct non-missing value
    reference_is_constant: bool
    outlier_share: float | None  # numeric: outside the reference's [Q1 - 1.5 IQR, Q3 + 1.5 IQR]
    reference_outlier_share: float | None
    reference_stats: dict[
        str, float | str | None
    ]  # summary: min/max/mean/std/median or distinct/top
    current_stats: dict[str, float | str | None]
    error: str | None  # why the column could not be checked; None when it was


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
    duplicate_ids: (
        int | None
    )  # current rows whose id was seen before in the set; None without an id


# --- checking -------------------------------------------------------------------------------

UNSEEN_LISTED = 20  # unseen categories named in the report; the rest are counted


def _share(part: int | float, whole: int | float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _numeric_stats(values: NDArray[np.float64]) -> dict[str, float | str | None]:
    if values.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "median": None}
    qs = quantiles_of_sorted(values, np.array([0.5]))
    return {
        "min": float(values[0]),
        "max": float(values[-1]),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "median": float(qs[0]),
    }


def _outside(values: NDArray[np.float64], low: float, high: float) -> int:
    """How many sorted values lie below low or above high."""
    return int(
        np.searchsorted(values, low, side="left")
        + values.size
        - np.searchsorted(values, high, side="right")
    )


def iqr_fences(q1: float, q3: float) -> tuple[float, float]:
    """Tukey's fences: [Q1 - 1.5 IQR, Q3 + 1.5 IQR]."""
    iqr = q3 - q1
    return q1 - 1.5 * iqr, q3 + 1.5 * iqr


def numeric_quality(
    column: ColumnSpec, reference: NumericSample | NumericProfile, current: NumericSample
) -> ColumnQuality:
    """Missing, infinite, out-of-range, outlier and constant checks of a numeric column."""
    cur = current.values
    if isinstance(reference, NumericSample):
        ref = reference.values
        ref_rows, ref_missing = reference.rows, reference.missing
        ref_min = float(ref[0]) if ref.size else None
        ref_max = float(ref[-1]) if ref.size else None
        if ref.size:
            q1, q3 = (float(x) for x in quantiles_of_sorted(ref, np.array([0.25, 0.75])))
            low_f, high_f = iqr_fences(q1, q3)
            ref_outliers: float | None = _share(_outside(ref, low_f, high_f), ref.size)
        else:
            low_f = high_f = float("nan")
            ref_outliers = None
        ref_constant = ref.size == 0 or bool(ref[0] == ref[-1])
        ref_stats = _numeric_stats(ref)
    else:
        ref_rows = reference.count + reference.missing + reference.infinite
        ref_missing = reference.missing
        ref_min = reference.min if reference.count else None
        ref_max = reference.max if reference.count else None
        if reference.count:
            low_f, high_f = iqr_fences(reference.quantiles["q1"], reference.quantiles["q3"])
        else:
            low_f = high_f = float("nan")
        ref_outliers = None  # a profile keeps the quartiles, not the count outside them
        ref_constant = reference.count == 0 or bool(reference.min == reference.max)
        ref_stats = {
            "min": ref_min,
            "max": ref_max,
            "mean": reference.mean if reference.count else None,
            "std": reference.std if reference.count > 1 else None,
            "median": reference.quantiles.get("median"),
        }
    low, high, source = ref_min, ref_max, "reference"
    if column.bounds is not None:
        low, high, source = column.bounds[0], column.bounds[1], "spec"
    out_of_range = None
    if cur.size and (low is not None or high is not None):
        n_out = _outside(cur, -np.inf if low is None else low, np.inf if high is None else high)
        out_of_range = _share(n_out, cur.size)
    outliers = None
    if cur.size and not np.isnan(low_f):
        outliers = _share(_outside(cur, low_f, high_f), cur.size)
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
        is_constant=cur.size == 0 or bool(cur[0] == cur[-1]),
        reference_is_constant=ref_constant,
        outlier_share=outliers,
        reference_outlier_share=ref_outliers,
        reference_stats=ref_stats,
        current_stats=_numeric_stats(cur),
        error=None,
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
) -> tuple[tuple[str, ...], int, float]:
    """Current categories the reference lacks: the most frequent few, how many, their share."""
    new = sorted(
        ((n, v) for v, n in current.counts.items() if v not in reference.counts),
        key=lambda nv: (-nv[0], nv[1]),
    )
    rows = sum(n for n, _ in new)
    return tuple(v for _, v in new[:UNSEEN_LISTED]), len(new), _share(rows, current.count)


def categorical_quality(
    column: ColumnSpec,
    reference: CategoricalProfile,
    current: CategoricalProfile,
    *,
    type_mismatches: int = 0,
) -> ColumnQuality:
    """Missing, unseen-category and constant checks of a categorical or boolean column."""
    listed, n_unseen, share = unseen(reference, current)
    return ColumnQuality(
        column=column.name,
        kind=column.kind,
        role=column.role,
        reference_missing_share=_share(reference.missing, reference.count + reference.missing),
        missing_share=_share(current.missing, current.count + current.missing),
        type_mismatches=type_mismatches,
        infinite_share=None,
        out_of_range_share=None,
        range_low=None,
        range_high=None,
        range_source=None,
        unseen_categories=listed,
        n_unseen_categories=n_unseen,
        unseen_share=share if current.count else None,
        is_constant=len(current.counts) <= 1,
        reference_is_constant=len(reference.counts) <= 1,
        outlier_share=None,
        reference_outlier_share=None,
        reference_stats=_category_stats(reference),
        current_stats=_category_stats(current),
        error=None,
    )


def with_vocabulary(
    quality: ColumnQuality, reference: CategoricalProfile, current: CategoricalProfile
) -> ColumnQuality:
    """A text column's quality with its vocabulary check: tokens the reference never used."""
    listed, n_unseen, share = unseen(reference, current)
    return replace(
        quality,
        unseen_categories=listed,
        n_unseen_categories=n_unseen,
        unseen_share=share if current.count else None,
        reference_stats={**quality.reference_stats, "vocabulary": len(reference.counts)},
        current_stats={**quality.current_stats, "vocabulary": len(current.counts)},
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


def duplicate_rows(table: pa.Table) -> int:
    """Rows equal in every column to an earlier row.

    Each row is hashed to 64 bits from its columns' values (dictionary codes for text), so two
    different rows collide with probability about n²/2⁶⁵ — below 1e-7 at a million rows.
    """
    n = table.num_rows
    if n < 2 or table.num_columns == 0:
        return 0
    row_hash = np.zeros(n, dtype=np.uint64)
    for name in table.column_names:
        row_hash = (row_hash * np.uint64(0x9E3779B97F4A7C15)) ^ _value_codes(table.column(name))
        row_hash ^= row_hash >> np.uint64(29)
    row_hash.sort()  # sort-and-compare: about 40x faster than np.unique on 1M uint64 here
    return int(np.count_nonzero(row_hash[1:] == row_hash[:-1]))


def _value_codes(column: pa.ChunkedArray) -> NDArray[np.uint64]:
    """One 64-bit code per value; equal values get equal codes, nulls their own code."""
    t = column.type
    if (
        pa.types.is_floating(t)
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_date(t)
    ):
        if column.type != pa.float64():
            column = pc.cast(column, pa.float64())
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
