"""Checks shared by the kernels that compare two histograms (PSI, KL, JS, Hellinger, chi²)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def checked_counts(
    method: str, reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Both count vectors as arrays, or a ValueError naming `method` and what it got."""
    ref, cur, _, _ = _checked(method, reference_counts, current_counts)
    return ref, cur


def shares(
    method: str, reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each side's counts divided by its total (checked as in `checked_counts`)."""
    ref, cur, n_ref, n_cur = _checked(method, reference_counts, current_counts)
    return ref / n_ref, cur / n_cur


def _checked(
    method: str, reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], Any, Any]:
    """The checks of `checked_counts`, and each side's total."""
    ref = np.asarray(reference_counts)
    cur = np.asarray(current_counts)
    if ref.ndim != 1 or cur.ndim != 1 or ref.shape != cur.shape:
        raise ValueError(
            f"{method} needs two count vectors of the same length (one count per bin or "
            f"category); got shapes {ref.shape} (reference) and {cur.shape} (current). Count "
            "both sets on the reference's bin edges or on the union of their categories."
        )
    if ref.size == 0:
        raise ValueError(f"{method} needs at least one bin or category; got 0 counts per side.")
    # integer counts are finite: the check is for floats (a window's counts are integers, and
    # these checks run four times per column)
    if not (_is_integer(ref) or np.all(np.isfinite(ref))) or not (
        _is_integer(cur) or np.all(np.isfinite(cur))
    ):
        raise ValueError(f"{method} needs finite counts; got {ref} and {cur}.")
    if ref.min() < 0 or cur.min() < 0:
        raise ValueError(
            f"{method} needs counts >= 0; got smallest reference count {ref.min()} and smallest "
            f"current count {cur.min()}."
        )
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref == 0 or n_cur == 0:
        raise ValueError(
            f"{method} needs at least one counted row on each side; got totals {n_ref} "
            f"(reference) and {n_cur} (current). Skip the column when a set has no values."
        )
    return ref, cur, n_ref, n_cur


def _is_integer(values: NDArray[Any]) -> bool:
    return values.dtype.kind in "iub"


def floored(proportions: NDArray[np.float64], floor: float, method: str) -> NDArray[np.float64]:
    """`proportions` with every exactly-empty bin set to `floor`, so that its logarithm is finite.

    The other shares are left alone and nothing is renormalised: an empty bin then weighs as
    if it held a `floor` share of the rows, the usual convention for PSI in credit scoring.
    """
    if not 0.0 < floor < 1.0:
        raise ValueError(
            f"{method} needs 0 < floor < 1 (the share given to an empty bin); got {floor}. "
            "The default 1e-4 is the usual choice."
        )
    return np.where(proportions == 0.0, floor, proportions)
