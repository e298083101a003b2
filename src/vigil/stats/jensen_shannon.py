"""Jensen–Shannon distance between two histograms on the same bins."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from vigil.stats._histograms import shares


def jensen_shannon_distance(
    reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> float:
    """Base-2 Jensen–Shannon distance of two aligned count vectors, in [0, 1].

    The square root of the JS divergence ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = (p + q) / 2, where
    p and q are the two sides' shares per bin (or category). Symmetric, a metric, 0 for equal
    shares and 1 for disjoint supports. No flooring is needed: m > 0 wherever p or q is, and
    an empty bin's term 0 · log 0 is 0.

    References: Lin (1991), *Divergence measures based on the Shannon entropy*, IEEE Trans.
    Inf. Theory 37(1); Endres & Schindelin (2003), *A new metric for probability
    distributions*; `scipy.spatial.distance.jensenshannon(p, q, base=2)`.

    >>> import numpy as np
    >>> jensen_shannon_distance(np.array([10, 0]), np.array([0, 10]))
    1.0
    >>> round(jensen_shannon_distance(np.array([50, 50]), np.array([90, 10])), 4)
    0.3831
    """
    p, q = shares("jensen_shannon_distance", reference_counts, current_counts)
    return jensen_shannon_of_shares(p, q)


def jensen_shannon_of_shares(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """The distance from the two sides' shares (checked and divided by `shares`)."""
    m = (p + q) / 2.0
    divergence = 0.5 * (_relative_entropy_bits(p, m) + _relative_entropy_bits(q, m))
    # Rounding can leave the divergence a hair outside [0, 1].
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def _relative_entropy_bits(p: NDArray[np.float64], m: NDArray[np.float64]) -> float:
    """Σ p · log2(p / m) over the bins where p > 0 (there m > 0 too)."""
    present = p > 0.0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))
