"""Checks shared by the kernels that compare two raw samples (KS, Wasserstein, energy, ...)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sorted_samples(
    method: str,
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    *,
    assume_sorted: bool = False,
    min_size: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both samples as sorted 1-D float64 arrays, or a ValueError naming `method` and the sizes.

    With `assume_sorted` the arrays are trusted (not copied, not checked for order): sorting is
    the dominant cost for millions of rows and the caller usually sorted once for several
    kernels.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.ndim != 1 or cur.ndim != 1:
        raise ValueError(
            f"{method} needs two 1-D samples; got arrays of shape {ref.shape} (reference) and "
            f"{cur.shape} (current). Pass one column at a time."
        )
    if ref.size < min_size or cur.size < min_size:
        raise ValueError(
            f"{method} needs at least {min_size} value(s) on each side; got {ref.size} reference "
            f"and {cur.size} current values. Check the column has finite values in both sets."
        )
    if not assume_sorted:
        ref, cur = np.sort(ref), np.sort(cur)
    # Sorted as np.sort leaves them, NaN is last and ±inf are at the ends: two looks per side
    # check the whole sample.
    for name, values in (("reference", ref), ("current", cur)):
        if not (np.isfinite(values[0]) and np.isfinite(values[-1])):
            raise ValueError(
                f"{method} needs finite values; the {name} sample holds NaN or infinity "
                f"(smallest {values[0]}, largest {values[-1]}). Drop (and count) them first."
            )
    return ref, cur
