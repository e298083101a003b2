"""Checks shared by the model-performance kernels (classification and regression metrics).

Each check returns the input as the array the kernel computes on, or raises a ValueError that
names the metric, what it expected and what it got. The checks use min/max reductions (NaN
propagates through them), so they cost a few passes over the data and allocate nothing on
the happy path; the detailed counts in the messages are only computed on failure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def class_codes(
    metric: str, name: str, values: NDArray[np.int64], n_classes: int | None
) -> NDArray[np.int64]:
    """`values` as 1-D int64 class codes in 0..n_classes-1 (any code >= 0 if None), non-empty."""
    codes = np.asarray(values)
    if codes.ndim != 1:
        raise ValueError(
            f"{metric}: {name} must be 1-D (one class code per row); got shape {codes.shape}."
        )
    if codes.dtype.kind not in "biu":
        raise ValueError(
            f"{metric}: {name} must hold integer class codes {_span(n_classes)}; got dtype "
            f"{codes.dtype}. Encode the labels as codes first (binary: positive class = 1)."
        )
    if codes.size == 0:
        raise ValueError(f"{metric} needs at least one row; {name} is empty.")
    smallest, largest = int(codes.min()), int(codes.max())
    limit = largest + 1 if n_classes is None else n_classes
    if smallest < 0 or largest >= limit:
        outside = int(np.count_nonzero((codes < 0) | (codes >= limit)))
        raise ValueError(
            f"{metric}: {name} must hold class codes {_span(n_classes)}; got codes from "
            f"{smallest} to {largest} ({outside} of {codes.size} rows outside). Encode every "
            "label as its class index, and pass the number of classes."
        )
    return codes.astype(np.int64, copy=False)


def same_length(
    metric: str, y_true: NDArray[np.generic], other: NDArray[np.generic], name: str
) -> None:
    """Raise unless `other` has one row per row of `y_true`."""
    if other.shape[:1] != y_true.shape[:1]:
        n_other = other.shape[0] if other.ndim else 0
        raise ValueError(
            f"{metric}: y_true has {y_true.shape[0]} rows and {name} {n_other}; pass one "
            f"{name} row per y_true row."
        )


def label_pair(
    metric: str, y_true: NDArray[np.int64], y_pred: NDArray[np.int64], n_classes: int | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """True and predicted class codes, aligned and within range."""
    true = class_codes(metric, "y_true", y_true, n_classes)
    pred = np.asarray(y_pred)
    same_length(metric, true, pred, "y_pred")
    return true, class_codes(metric, "y_pred", pred, n_classes)


def integer_at_least(metric: str, name: str, value: int, minimum: int) -> None:
    """Raise unless `value` (the option `name`) is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{metric}: {name} must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{metric} needs {name} >= {minimum}; got {value}.")


def scores(
    metric: str, y_true: NDArray[np.int64], y_score: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`y_score` as a 1-D float64 array of finite values, one per row of `y_true`."""
    values = np.asarray(y_score, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            f"{metric}: y_score must be 1-D (one score of the positive class per row); got "
            f"shape {values.shape}. For several classes use the one-vs-rest variant."
        )
    same_length(metric, y_true, values, "y_score")
    if not (np.isfinite(values.min()) and np.isfinite(values.max())):
        raise ValueError(
            f"{metric}: y_score must be finite; got {_count_not_finite(values)} NaN or infinite "
            f"of {values.size} values. Drop (and count) those rows first."
        )
    return values


def probabilities(
    metric: str, y_true: NDArray[np.int64], proba: NDArray[np.float64], n_classes: int | None
) -> NDArray[np.float64]:
    """`proba` as float64 in [0, 1]: shape (n,) for P(class 1), or (n, n_classes).

    `n_classes=None` accepts only the binary shape (n,).
    """
    values = np.asarray(proba, dtype=np.float64)
    binary_ok = n_classes in (None, 2)
    if values.ndim == 1 and not binary_ok:
        raise ValueError(
            f"{metric}: with {n_classes} classes proba must have shape (n, {n_classes}), one "
            f"column per class; got shape {values.shape}."
        )
    if values.ndim == 2 and (n_classes is None or values.shape[1] != n_classes):
        expected = "(n,), P(class 1) per row" if n_classes is None else f"(n, {n_classes})"
        raise ValueError(
            f"{metric}: proba must have shape {expected}; got shape {values.shape}. Pass one "
            "column per class, in class-code order."
        )
    if values.ndim not in (1, 2):
        raise ValueError(f"{metric}: proba must be 1-D or 2-D; got shape {values.shape}.")
    same_length(metric, y_true, values, "proba")
    # Comparisons with NaN are False, so NaN fails this check too.
    if not (values.min() >= 0.0 and values.max() <= 1.0):
        not_finite = _count_not_finite(values)
        finite = values[np.isfinite(values)]
        outside = int(np.count_nonzero((finite < 0.0) | (finite > 1.0)))
        span = f"from {finite.min()} to {finite.max()}" if finite.size else "none finite"
        raise ValueError(
            f"{metric}: proba must hold probabilities in [0, 1]; of {values.size} values got "
            f"{not_finite} NaN or infinite and {outside} finite outside [0, 1] ({span}). Pass "
            "predicted probabilities (not logits or scores) and drop rows without one."
        )
    return values


def real_pair(
    metric: str, y_true: NDArray[np.float64], y_pred: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """True and predicted values as aligned, non-empty, finite 1-D float64 arrays."""
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if true.ndim != 1 or pred.ndim != 1:
        raise ValueError(
            f"{metric}: y_true and y_pred must be 1-D (one value per row); got shapes "
            f"{true.shape} and {pred.shape}."
        )
    same_length(metric, true, pred, "y_pred")
    if true.size == 0:
        raise ValueError(f"{metric} needs at least one row; y_true and y_pred are empty.")
    for name, values in (("y_true", true), ("y_pred", pred)):
        if not (np.isfinite(values.min()) and np.isfinite(values.max())):
            raise ValueError(
                f"{metric}: {name} must be finite; got {_count_not_finite(values)} NaN or "
                f"infinite of {values.size} values. Drop (and count) those rows first."
            )
    return true, pred


def _span(n_classes: int | None) -> str:
    if n_classes is None:
        return ">= 0"
    return f"0..{n_classes - 1} ({n_classes} classes)"


def _count_not_finite(values: NDArray[np.float64]) -> int:
    return int(values.size - np.count_nonzero(np.isfinite(values)))
