"""Standard errors of performance metrics: how much a metric moves by sampling alone.

Analytic where a formula exists (a proportion, a mean; DeLong's for the ROC AUC), a bootstrap
elsewhere. vigil
judges a metric's change against the standard error of the difference between two sets
(vigil.verdict); the formulas and their sources are in docs/statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray


def binomial_standard_error(share: float, n: int) -> float:
    """√(p(1 − p)/n): the standard error of a proportion p estimated on n rows.

    >>> binomial_standard_error(0.9, 100)
    0.03
    """
    if not 0.0 <= share <= 1.0 or n < 1:
        raise ValueError(
            f"binomial_standard_error needs a share in [0, 1] and n >= 1; got {share}, {n}."
        )
    return round(math.sqrt(share * (1.0 - share) / n), 15)


def mean_standard_error(values: NDArray[np.float64]) -> float:
    """s/√n: the standard error of the mean of these values (s with ddof 1; 0 for one value).

    >>> mean_standard_error(np.array([1.0, 2.0, 3.0, 4.0]))
    0.6454972243679028
    """
    n = int(values.size)
    if n < 1:
        raise ValueError("mean_standard_error needs at least one value.")
    return float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def auc_standard_error(y_true: NDArray[np.int64], y_score: NDArray[np.float64]) -> float:
    """DeLong's standard error of the ROC AUC of these scores (1 = positive class).

    Each positive's placement V₁₀ (the share of negatives it outscores, ties half) and each
    negative's placement V₀₁ (the share of positives that outscore it) average to the AUC; the
    AUC's variance is var(V₁₀)/m + var(V₀₁)/n for m positives and n negatives. Each class is
    sorted once and the placements found by binary search, in O(N log N).

    References: DeLong, DeLong & Clarke-Pearson (1988), *Comparing the areas under two or more
    correlated receiver operating characteristic curves*, Biometrics 44(3).

    >>> round(auc_standard_error(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
    0.3536
    """
    y = np.asarray(y_true)
    scores = np.asarray(y_score, dtype=np.float64)
    is_positive = y == 1
    m = int(np.count_nonzero(is_positive))
    n = int(np.count_nonzero(y == 0))
    if m < 2 or n < 2 or y.size != m + n:
        raise ValueError(
            f"auc_standard_error needs at least two rows of each class (0 and 1); got {m} "
            f"positives and {n} negatives of {y.size} rows."
        )
    positive = np.sort(scores[is_positive])
    negative = np.sort(scores[y == 0])
    # placements by binary search in the other class, ties counted half
    v10 = (
        np.searchsorted(negative, positive, "left") + np.searchsorted(negative, positive, "right")
    ) / (2.0 * n)
    v01 = 1.0 - (
        np.searchsorted(positive, negative, "left") + np.searchsorted(positive, negative, "right")
    ) / (2.0 * m)
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    return math.sqrt(max(variance, 0.0))


def bootstrap_scales(
    metrics: Mapping[str, Callable[..., float]],
    arrays: Sequence[NDArray[np.generic]],
    *,
    size: int = 2000,
    draws: int = 100,
    seed: int = 0,
) -> dict[str, float | None]:
    """For each metric, σ such that σ/√n is its standard error on n rows drawn like `arrays`.

    Every metric is computed on the same `draws` resamples (rows with replacement) of
    `min(size, rows)` rows; σ is the standard deviation of its values times √size. For a
    metric that is asymptotically normal at the rate 1/√n (an average, an F1 score, an average
    precision) the standard error at any n follows. None for a metric that fewer than two
    resamples could compute (e.g. a resample with one class only). Seeded: the same input gives
    the same σ.

    Reference: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 6.

    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(0.0, 2.0, 5000)
    >>> round(bootstrap_scales({"mean": lambda v: float(np.mean(v))}, [x], draws=400)["mean"], 1)
    2.0
    """
    n = int(arrays[0].shape[0]) if arrays else 0
    if n < 2 or draws < 2 or size < 2:
        return dict.fromkeys(metrics)
    m = min(size, n)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(draws):
        rows = rng.integers(0, n, m)
        sample = [a[rows] for a in arrays]
        for name, metric in metrics.items():
            try:
                value = metric(*sample)
            except ValueError:
                continue
            if math.isfinite(value):
                values[name].append(value)
    return {
        name: float(np.std(v, ddof=1) * math.sqrt(m)) if len(v) >= 2 else None
        for name, v in values.items()
    }
