"""Standard errors of performance metrics: how much a metric moves by sampling alone.

Analytic where a formula exists (a proportion; the ROC AUC), a bootstrap elsewhere. vigil
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


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Hanley & McNeil's standard error of a ROC AUC on these class counts.

    SE² = [A(1 − A) + (n₁ − 1)(Q₁ − A²) + (n₂ − 1)(Q₂ − A²)] / (n₁·n₂) with Q₁ = A/(2 − A)
    and Q₂ = 2A²/(1 + A), n₁ positives and n₂ negatives.

    Reference: Hanley & McNeil (1982), *The meaning and use of the area under a receiver
    operating characteristic (ROC) curve*, Radiology 143(1), eq. 2.

    >>> round(auc_standard_error(0.75, 150, 350), 4)
    0.0254
    """
    if not 0.0 <= auc <= 1.0 or n_positive < 1 or n_negative < 1:
        raise ValueError(
            f"auc_standard_error needs an AUC in [0, 1] and both classes; got {auc}, "
            f"{n_positive} positives and {n_negative} negatives."
        )
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    variance = (
        auc * (1.0 - auc)
        + (n_positive - 1) * (q1 - auc * auc)
        + (n_negative - 1) * (q2 - auc * auc)
    ) / (n_positive * n_negative)
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
