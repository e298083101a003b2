"""Kullback–Leibler divergence of the current histogram from the reference one."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vigil.stats._histograms import floored, shares


def kl_divergence(
    reference_counts: NDArray[np.int64],
    current_counts: NDArray[np.int64],
    *,
    floor: float = 1e-4,
) -> float:
    """KL(current ‖ reference) = Σ q · ln(q / p) of two aligned count vectors, in nats (≥ 0).

    p and q are the reference's and the current set's share of rows per bin (or category);
    an empty bin's share (exactly 0) is replaced by `floor`, as in `psi`, and nothing is
    renormalised. Not symmetric: it measures how surprising the current set is under the
    reference.

    Because the floored shares need not sum to 1, the sum can come out a hair below 0 (when
    the current set puts less than `floor` of its rows in a bin the reference left empty);
    such a value is returned as 0.0, so the result is always a divergence.

    References: Kullback & Leibler (1951), *On information and sufficiency*, Ann. Math.
    Statist. 22(1); `scipy.special.rel_entr`.

    >>> import numpy as np
    >>> kl_divergence(np.array([50, 50]), np.array([50, 50]))
    0.0
    >>> round(kl_divergence(np.array([50, 50]), np.array([90, 10])), 4)
    0.3681
    """
    p, q = shares("kl_divergence", reference_counts, current_counts)
    p, q = floored(p, floor, "kl_divergence"), floored(q, floor, "kl_divergence")
    return kl_of_log_ratio(q, np.log(q / p))


def kl_of_log_ratio(q: NDArray[np.float64], log_ratio: NDArray[np.float64]) -> float:
    """KL from the current's floored shares and ln(q / p) (shared with `psi_of_log_ratio`)."""
    return max(0.0, float(np.sum(q * log_ratio)))
