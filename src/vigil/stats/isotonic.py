"""Isotonic calibration of scores: the non-decreasing step function closest to the labels.

`fit_isotonic` fits on (score, 0/1 label) pairs; `Isotonic.apply` maps new scores through
the fitted points, interpolating linearly between them and clipping outside their range —
what scikit-learn's `IsotonicRegression(out_of_bounds="clip")` predicts. Tied scores are
merged first (their labels averaged, weighted by their count), as scikit-learn does, and
the pool-adjacent-violators fit is `scipy.optimize.isotonic_regression`.

References: Zadrozny & Elkan (2002), *Transforming classifier scores into accurate multiclass
probability estimates*; `sklearn.isotonic.IsotonicRegression`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import isotonic_regression


@dataclass(frozen=True, slots=True)
class Isotonic:
    """A fitted isotonic map: increasing `x` (the distinct scores) to non-decreasing `y`."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def apply(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """The calibrated value of each score (linear between fitted points, clipped outside).

        >>> fitted = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
        >>> fitted.apply(np.array([0.0, 0.25, 0.4])).tolist()
        [0.0, 0.5, 1.0]
        """
        if self.x.size == 1:
            return np.full(scores.shape, float(self.y[0]))
        return np.interp(scores, self.x, self.y)


def fit_isotonic(scores: NDArray[np.float64], labels: NDArray[np.generic]) -> Isotonic:
    """The isotonic (non-decreasing) least-squares fit of 0/1 `labels` on `scores`.

    >>> fit_isotonic(np.array([0.1, 0.2, 0.3]), np.array([1, 0, 1])).y.tolist()
    [0.5, 0.5, 1.0]
    """
    x = np.asarray(scores, dtype=np.float64)
    t = np.asarray(labels, dtype=np.float64)
    if x.shape != t.shape or x.ndim != 1:
        raise ValueError(
            f"fit_isotonic needs one label per score; got {x.shape} scores and {t.shape} labels."
        )
    if x.size == 0:
        raise ValueError("fit_isotonic needs at least one (score, label) pair; got none.")
    if not np.isfinite(x).all():
        raise ValueError("fit_isotonic needs finite scores; drop the NaN and infinite ones first.")
    order = np.argsort(x, kind="stable")
    x, t = x[order], t[order]
    distinct, start, counts = np.unique(x, return_index=True, return_counts=True)
    sums = np.add.reduceat(t, start)
    weights = counts.astype(np.float64)
    fitted = isotonic_regression(sums / weights, weights=weights, increasing=True).x
    return Isotonic(distinct, np.asarray(fitted, dtype=np.float64))
