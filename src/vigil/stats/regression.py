"""Regression metrics: from true and predicted values to numbers.

Naming rule: ``*_score`` is higher-is-better, ``*_error`` is lower-is-better — except
`mean_error`, the signed bias, whose best value is 0. Every value matches scikit-learn's
function of the same name (checked by the tests); the docstrings say where vigil differs.

Inputs are aligned 1-D float64 arrays with NaN and infinity already removed (and counted) by
the caller; anything else raises ValueError saying what came and what to do.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vigil.stats._validate import real_pair

# MAPE divides by max(|y|, EPS), as scikit-learn does, so a true 0 gives a huge finite term.
EPS = float(np.finfo(np.float64).eps)


def mean_absolute_error(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """Mean of |y − ŷ|, in the target's unit (≥ 0).

    Reference: `sklearn.metrics.mean_absolute_error`.

    >>> import numpy as np
    >>> mean_absolute_error(np.array([3.0, -0.5, 2.0, 7.0]), np.array([2.5, 0.0, 2.0, 8.0]))
    0.5
    """
    true, pred = real_pair("mean_absolute_error", y_true, y_pred)
    return float(np.mean(np.abs(pred - true)))


def root_mean_squared_error(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """Square root of the mean of (y − ŷ)², in the target's unit (≥ 0).

    Reference: `sklearn.metrics.root_mean_squared_error`.

    >>> import numpy as np
    >>> root_mean_squared_error(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    1.0
    """
    true, pred = real_pair("root_mean_squared_error", y_true, y_pred)
    return float(np.sqrt(np.mean(np.square(pred - true))))


def mean_absolute_percentage_error(
    y_true: NDArray[np.float64], y_pred: NDArray[np.float64]
) -> float:
    """Mean of |y − ŷ| / max(|y|, ε), as a fraction (0.1 is 10%), ≥ 0.

    ε is the float64 machine epsilon (about 2.2e-16), as in scikit-learn: a true value of 0
    with a wrong prediction gives an enormous but finite term, so MAPE suits targets that
    stay away from 0.

    Reference: `sklearn.metrics.mean_absolute_percentage_error`.

    >>> import numpy as np
    >>> mean_absolute_percentage_error(np.array([100.0, 200.0]), np.array([110.0, 180.0]))
    0.1
    """
    true, pred = real_pair("mean_absolute_percentage_error", y_true, y_pred)
    return float(np.mean(np.abs(pred - true) / np.maximum(np.abs(true), EPS)))


def r2_score(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """Coefficient of determination 1 − Σ (y − ŷ)² / Σ (y − ȳ)², at most 1 (may be negative).

    1 is a perfect fit; 0 is no better than predicting the mean of y_true. When y_true is
    constant (Σ (y − ȳ)² = 0) the ratio is undefined, and the value is scikit-learn's
    (``force_finite=True``): 1.0 if every prediction is exact, else 0.0. Needs at least 2
    rows (scikit-learn returns NaN with a warning for 1).

    Reference: `sklearn.metrics.r2_score`.

    >>> import numpy as np
    >>> r2_score(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    0.8
    >>> r2_score(np.array([5.0, 5.0]), np.array([5.0, 6.0]))  # constant y_true
    0.0
    """
    true, pred = real_pair("r2_score", y_true, y_pred)
    if true.size < 2:
        raise ValueError(
            f"r2_score needs at least 2 rows; got {true.size}. R² compares the errors with the "
            "spread of y_true, which one row does not have."
        )
    residual = float(np.sum(np.square(true - pred)))
    spread = float(np.sum(np.square(true - true.mean())))
    if spread == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / spread


def mean_error(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    """Mean of ŷ − y: the bias, positive when the model over-predicts (best: 0).

    No scikit-learn counterpart; it is the negated mean residual, ``np.mean(y_pred - y_true)``.

    >>> import numpy as np
    >>> mean_error(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0]))
    1.0
    """
    true, pred = real_pair("mean_error", y_true, y_pred)
    return float(np.mean(pred - true))
