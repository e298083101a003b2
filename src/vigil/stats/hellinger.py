"""Hellinger distance between two histograms on the same bins."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from vigil.stats._histograms import shares


def hellinger_distance(
    reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> float:
    """Hellinger distance √(1 − Σ √(p·q)) of two aligned count vectors, in [0, 1].

    p and q are the two sides' shares per bin (or category). Symmetric, a metric, 0 for equal
    shares and 1 for disjoint supports; empty bins need no flooring. Computed in the
    equivalent form ‖√p − √q‖₂ / √2, which is exactly 0 for equal shares (1 − Σ √(p·q) would
    leave a rounding residue of about 1e-8 after the square root).

    References: Hellinger (1909); Le Cam & Yang (2000), *Asymptotics in Statistics*, ch. 3.

    >>> import numpy as np
    >>> hellinger_distance(np.array([10, 0]), np.array([0, 10]))
    1.0
    >>> round(hellinger_distance(np.array([50, 50]), np.array([90, 10])), 4)
    0.3249
    """
    p, q = shares("hellinger_distance", reference_counts, current_counts)
    return hellinger_of_shares(p, q)


def hellinger_of_shares(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """The distance from the two sides' shares (checked and divided by `shares`)."""
    gap = np.sqrt(p) - np.sqrt(q)
    # Rounding can leave the value a hair above 1 for disjoint supports.
    return min(math.sqrt(float(np.dot(gap, gap)) / 2.0), 1.0)
