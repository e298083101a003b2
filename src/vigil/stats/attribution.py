"""Feature attributions (e.g. SHAP values) summarised per feature, and rankings compared.

`mean_abs_attribution` is the global importance SHAP summaries and SageMaker Clarify use
("mean_abs": the mean of |attribution| over rows), with the standard error of each mean.
`ndcg_score` compares a current ranking of features with the reference's importances as
relevance, the way SageMaker Clarify reports feature attribution drift; `ndcg_null_band` is
what that score looks like, at a given number of rows, when nothing changed.

References: Järvelin & Kekäläinen (2002), "Cumulated gain-based evaluation of IR techniques",
ACM TOIS 20(4); `sklearn.metrics.ndcg_score` (same definition, ties averaged as McSherry &
Najork 2008); SageMaker Clarify, "Model Feature Attribution Drift Violations".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from vigil.stats.result import TestResult


@dataclass(frozen=True, slots=True)
class Importance:
    """Mean |attribution| per feature over the rows, and the standard error of each mean."""

    mean_abs: NDArray[np.float64]
    standard_error: NDArray[np.float64]
    rows: int


@dataclass(frozen=True, slots=True)
class NullBand:
    """NDCG of resampled reference rows against the whole reference: mean and spread."""

    mean: float
    sd: float
    rows: int  # rows of each resample
    resamples: int


def _matrix(values: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{what} must be a rows × features matrix; got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinity; drop or count those rows first.")
    return a


def mean_abs_attribution(values: NDArray[np.float64]) -> Importance:
    """Mean |attribution| of each column of a rows × features matrix, with its standard error.

    The standard error is the sample standard deviation of |attribution| over √rows (0 with
    one row: a single row says nothing about the spread).

    >>> imp = mean_abs_attribution(np.array([[1.0, -2.0], [-3.0, 2.0]]))
    >>> imp.mean_abs.tolist(), imp.standard_error.tolist()
    ([2.0, 2.0], [1.0, 0.0])
    """
    a = np.abs(_matrix(values, "attributions"))
    n = a.shape[0]
    if n == 0:
        raise ValueError("mean_abs_attribution needs at least one row; got none.")
    se = a.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(a.shape[1])
    return Importance(a.mean(axis=0), se, n)


def welch_t_test(
    reference_mean: float,
    reference_se: float,
    reference_n: int,
    current_mean: float,
    current_se: float,
    current_n: int,
) -> TestResult:
    """Welch's two-sided t-test of two means from their standard errors; statistic t (current
    minus reference), degrees of freedom by Welch–Satterthwaite.

    Reference: Welch (1947), Biometrika 34; `scipy.stats.ttest_ind_from_stats(...,
    equal_var=False)` (which takes standard deviations: se · √n).

    >>> r = welch_t_test(1.0, 0.1, 50, 1.5, 0.1, 50)
    >>> round(r.statistic, 4), round(r.p_value, 6)
    (3.5355, 0.000623)
    """
    if reference_n < 2 or current_n < 2:
        raise ValueError(
            f"welch_t_test needs at least 2 rows a side; got {reference_n} and {current_n}."
        )
    diff = current_mean - reference_mean
    var_r, var_c = reference_se**2, current_se**2
    if var_r + var_c == 0:  # both sets constant: equal means are equal, others certain
        return TestResult(0.0, 1.0) if diff == 0 else TestResult(math.copysign(math.inf, diff), 0.0)
    t = diff / math.sqrt(var_r + var_c)
    df = (var_r + var_c) ** 2 / (var_r**2 / (reference_n - 1) + var_c**2 / (current_n - 1))
    return TestResult(t, float(min(1.0, 2 * special.stdtr(df, -abs(t)))))


def ndcg_score(
    relevance: NDArray[np.float64], scores: NDArray[np.float64], *, k: int | None = None
) -> float:
    """NDCG@k of the ranking by `scores`, each item's gain its `relevance` (≥ 0).

    DCG = Σ gain / log2(rank + 1) over the top k ranks; items with tied scores share the
    average gain of their group (as `sklearn.metrics.ndcg_score` does by default); the ideal
    DCG ranks by relevance itself. 1 when the ranking puts the items in relevance order; 0
    when all relevance is 0 (nothing to find), as scikit-learn does.

    >>> ndcg_score(np.array([3.0, 2.0, 1.0]), np.array([0.9, 0.5, 0.1]))
    1.0
    >>> round(ndcg_score(np.array([3.0, 2.0, 1.0]), np.array([0.1, 0.5, 0.9])), 4)
    0.79
    """
    rel = np.asarray(relevance, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    if rel.ndim != 1 or rel.shape != sc.shape or rel.size == 0:
        raise ValueError(
            f"ndcg_score needs one relevance and one score per item; got shapes {rel.shape} "
            f"and {sc.shape}."
        )
    if not (np.isfinite(rel).all() and np.isfinite(sc).all()) or (rel < 0).any():
        raise ValueError("ndcg_score needs finite scores and finite relevance >= 0.")
    n = rel.size
    top = n if k is None else min(k, n)
    if top < 1:
        raise ValueError(f"ndcg_score needs k >= 1; got {k}.")
    discount = 1.0 / np.log2(np.arange(n) + 2.0)
    discount[top:] = 0.0
    ideal = float(np.sort(rel)[::-1] @ discount)
    if ideal == 0.0:
        return 0.0
    return _tie_averaged_dcg(rel, sc, discount) / ideal


def _tie_averaged_dcg(
    rel: NDArray[np.float64], sc: NDArray[np.float64], discount: NDArray[np.float64]
) -> float:
    order = np.argsort(-sc, kind="stable")
    sorted_scores, sorted_rel = sc[order], rel[order]
    # groups of equal scores: each rank in a group gets the group's mean gain
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], sorted_scores.size]
    cum_discount = np.r_[0.0, np.cumsum(discount)]
    gains = np.add.reduceat(sorted_rel, starts) / (ends - starts)
    return float(gains @ (cum_discount[ends] - cum_discount[starts]))


def ndcg_null_band(
    values: NDArray[np.float64],
    *,
    rows: int,
    k: int | None = None,
    resamples: int = 200,
    seed: int = 0,
) -> NullBand:
    """NDCG of `resamples` draws of `rows` reference rows (with replacement) against the whole.

    Each draw's mean |attribution| ranks the features; the relevance is the whole matrix's
    mean |attribution|. The band's mean and standard deviation say how far below 1 a window
    of `rows` rows falls by sampling alone. Seeded: the same input gives the same band.

    >>> band = ndcg_null_band(np.array([[3.0, 1.0], [3.0, 1.0]]), rows=2)
    >>> band.mean, band.sd
    (1.0, 0.0)
    """
    a = np.abs(_matrix(values, "reference attributions"))
    if rows < 1 or resamples < 2:
        raise ValueError(
            f"ndcg_null_band needs rows >= 1 and resamples >= 2; got {rows}, {resamples}."
        )
    relevance = a.mean(axis=0)
    rng = np.random.default_rng(seed)
    scores = np.empty(resamples)
    for b in range(resamples):
        drawn = a[rng.integers(0, a.shape[0], size=rows)].mean(axis=0)
        scores[b] = ndcg_score(relevance, drawn, k=k)
    return NullBand(float(scores.mean()), float(scores.std(ddof=1)), rows, resamples)
