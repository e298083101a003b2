"""Feature attribution drift: how much each feature drives the model, reference vs current.

Numbers only (the verdict is `vigil.verdict`'s). Attributions are per-row, per-feature numbers
the serving code computed (e.g. SHAP values). A file or frame carries feature `age`'s in the
column `<attribution.prefix>age` (`shap_age` by default); the service stores a record's
`attributions` object as `__attr__age`. A row counts when it has every measured feature's
attribution. Per feature: mean |attribution| in each set, its change (absolute, relative,
standard error) and its rank; over the features: NDCG@k of the current ranking with the
reference's importances as relevance (SageMaker Clarify's definition), beside the band NDCG
keeps when reference rows of the window's size are ranked against the whole reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.errors import InputError
from vigil.spec import ATTRIBUTION_COLUMN, Spec
from vigil.stats.attribution import (
    Importance,
    NullBand,
    mean_abs_attribution,
    ndcg_null_band,
    ndcg_score,
    welch_t_test,
)
from vigil.stats.multiple_testing import adjust_p_values

# A feature's relative change is taken against at least this share of the reference's total
# mean |attribution|, so a feature nobody relied on (0.1 % of the importance) does not read
# as "+200 %" when it moves to 0.3 %.
RELATIVE_FLOOR = 0.01
# The NDCG band is built from resamples of a power-of-two size at or below the window's (a
# smaller sample spreads more: the band errs towards fewer alarms), at most this many rows,
# so a prepared reference keeps a handful of bands however window sizes vary.
MAX_BAND_ROWS = 4_096
BAND_RESAMPLES = 200


@dataclass(frozen=True, slots=True)
class FeatureAttribution:
    """One feature's importance in each set and how it moved."""

    feature: str
    reference_mean_abs: float
    current_mean_abs: float
    change: float  # current − reference
    relative_change: float  # change / max(reference, RELATIVE_FLOOR · reference total)
    standard_error: float  # of the change: √(se_ref² + se_cur²)
    p_value: float  # Welch's t-test of the two means
    p_value_adjusted: float  # Benjamini–Hochberg across the report's features
    reference_share: float  # the reference's importance normalised to sum 1 over the features
    reference_rank: int  # 1 = most important
    current_rank: int


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """Attribution drift of a current set against its reference."""

    features: dict[str, FeatureAttribution]  # most important in the reference first
    ndcg: float  # NDCG@k of the current ranking, relevance the reference's mean |attribution|
    k: int  # the k used: the spec's, at most the number of features
    band_mean: float  # NDCG of unchanged reference resamples of `band_rows` rows
    band_sd: float
    band_rows: int
    reference_rows: int  # rows with every feature's attribution
    current_rows: int


@dataclass(frozen=True, slots=True)
class ReferenceAttributions:
    """What a reference's attributions give, kept with a prepared reference."""

    features: tuple[str, ...]
    values: NDArray[np.float64]  # complete rows × features
    importance: Importance


def attribution_columns(table: pa.Table, spec: Spec) -> dict[str, str]:
    """Feature → the column of `table` holding its attributions (the service's `__attr__`
    column first, then the spec's prefix), for the spec's features that have one."""
    names = set(table.column_names)
    found: dict[str, str] = {}
    for col in spec.with_role("feature"):
        for candidate in (ATTRIBUTION_COLUMN + col.name, spec.attribution.column(col.name)):
            if candidate in names:
                found[col.name] = candidate
                break
    return found


def is_attribution_column(name: str, spec: Spec) -> bool:
    """Whether a column holds a feature's attributions (so it is not a new column)."""
    features = {c.name for c in spec.with_role("feature")}
    prefix = spec.attribution.prefix
    if name.startswith(ATTRIBUTION_COLUMN):
        return name[len(ATTRIBUTION_COLUMN) :] in features
    return name.startswith(prefix) and name[len(prefix) :] in features


def attribution_matrix(table: pa.Table, columns: list[str], where: str) -> NDArray[np.float64]:
    """The rows of `table` with every column's attribution present, as rows × columns.

    A column that does not read as numbers, or holds infinity, is refused by name.
    """
    arrays = []
    for name in columns:
        column = table.column(name)
        try:
            numbers = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(
                f"{where}: attribution column {name!r} holds {column.type} values; "
                f"attributions are numbers (one per row and feature)."
            ) from None
        arrays.append(numbers.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    matrix = np.column_stack(arrays) if arrays else np.empty((table.num_rows, 0))
    if np.isinf(matrix).any():
        bad = columns[int(np.flatnonzero(np.isinf(matrix).any(axis=0))[0])]
        raise InputError(
            f"{where}: attribution column {bad!r} holds infinity; attributions are finite."
        )
    return matrix[~np.isnan(matrix).any(axis=1)]


def reference_attributions(
    table: pa.Table, columns: dict[str, str], where: str
) -> ReferenceAttributions | None:
    """The reference's complete attribution rows and importances; None without two rows."""
    values = attribution_matrix(table, list(columns.values()), where)
    if values.shape[0] < 2:
        return None
    return ReferenceAttributions(tuple(columns), values, mean_abs_attribution(values))


def band_rows(current_rows: int) -> int:
    """The resample size of the NDCG band for a window of `current_rows` rows."""
    return min(MAX_BAND_ROWS, 1 << max(0, current_rows.bit_length() - 1))


def null_band(reference: ReferenceAttributions, rows: int, k: int) -> NullBand:
    """NDCG of unchanged reference resamples of `rows` rows (seeded by the size)."""
    return ndcg_null_band(reference.values, rows=rows, k=k, resamples=BAND_RESAMPLES, seed=rows)


def measure_attribution(
    reference: ReferenceAttributions,
    current: NDArray[np.float64],
    band: NullBand,
    *,
    k: int,
) -> AttributionResult:
    """Attribution drift of `current` (complete rows × the reference's features)."""
    cur = mean_abs_attribution(current)
    ref = reference.importance
    total = float(ref.mean_abs.sum())
    shares = (
        ref.mean_abs / total if total > 0 else np.full(ref.mean_abs.size, 1 / ref.mean_abs.size)
    )
    floor = RELATIVE_FLOOR * total
    ref_rank = _ranks(ref.mean_abs)
    cur_rank = _ranks(cur.mean_abs)
    tests = [
        welch_t_test(
            float(ref.mean_abs[i]),
            float(ref.standard_error[i]),
            ref.rows,
            float(cur.mean_abs[i]),
            float(cur.standard_error[i]),
            cur.rows,
        )
        for i in range(ref.mean_abs.size)
    ]
    adjusted = adjust_p_values([t.p_value for t in tests], "bh")
    features: dict[str, FeatureAttribution] = {}
    for i in np.argsort(-ref.mean_abs, kind="stable"):
        r, c = float(ref.mean_abs[i]), float(cur.mean_abs[i])
        denominator = max(r, floor)
        features[reference.features[i]] = FeatureAttribution(
            feature=reference.features[i],
            reference_mean_abs=r,
            current_mean_abs=c,
            change=c - r,
            relative_change=(c - r) / denominator if denominator > 0 else 0.0,
            standard_error=math.hypot(float(ref.standard_error[i]), float(cur.standard_error[i])),
            p_value=tests[i].p_value,
            p_value_adjusted=adjusted[i],
            reference_share=float(shares[i]),
            reference_rank=int(ref_rank[i]),
            current_rank=int(cur_rank[i]),
        )
    used_k = min(k, len(reference.features))
    return AttributionResult(
        features=features,
        ndcg=ndcg_score(ref.mean_abs, cur.mean_abs, k=used_k),
        k=used_k,
        band_mean=band.mean,
        band_sd=band.sd,
        band_rows=band.rows,
        reference_rows=ref.rows,
        current_rows=cur.rows,
    )


def _ranks(importance: NDArray[np.float64]) -> NDArray[np.int64]:
    ranks = np.empty(importance.size, dtype=np.int64)
    ranks[np.argsort(-importance, kind="stable")] = np.arange(1, importance.size + 1)
    return ranks
