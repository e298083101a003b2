"""PSI, Jensen–Shannon, Hellinger and KL of one pair of count vectors, checked once.

A window's column is compared on the reference's bins by all four; each of `psi`,
`jensen_shannon_distance`, `hellinger_distance` and `kl_divergence` checks the counts and
divides them by their totals again, which for ten bins costs more than the measure itself.
Here the shares are computed once and each measure takes the same floating-point steps as its
own function, so the values are the same, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigil.stats._histograms import floored, shares
from vigil.stats.hellinger import hellinger_of_shares
from vigil.stats.jensen_shannon import jensen_shannon_of_shares
from vigil.stats.kl import kl_of_log_ratio
from vigil.stats.psi import psi_of_log_ratio


@dataclass(frozen=True, slots=True)
class HistogramMeasures:
    """The four histogram measures of one pair of count vectors."""

    psi: float
    jensen_shannon: float  # base-2 Jensen–Shannon distance
    hellinger: float
    kl: float  # KL(current ‖ reference), nats


def histogram_measures(
    reference_counts: NDArray[np.int64],
    current_counts: NDArray[np.int64],
    *,
    floor: float = 1e-4,
) -> HistogramMeasures:
    """`psi`, `jensen_shannon_distance`, `hellinger_distance` and `kl_divergence` of two
    aligned count vectors (with the same `floor` for PSI and KL), from one check of the counts.

    >>> import numpy as np
    >>> m = histogram_measures(np.array([50, 50]), np.array([90, 10]))
    >>> round(m.psi, 4), round(m.jensen_shannon, 4), round(m.hellinger, 4), round(m.kl, 4)
    (0.8789, 0.3831, 0.3249, 0.3681)
    """
    p, q = shares("histogram_measures", reference_counts, current_counts)
    p_floored = floored(p, floor, "histogram_measures")
    q_floored = floored(q, floor, "histogram_measures")
    log_ratio = np.log(q_floored / p_floored)
    return HistogramMeasures(
        psi=psi_of_log_ratio(p_floored, q_floored, log_ratio),
        jensen_shannon=jensen_shannon_of_shares(p, q),
        hellinger=hellinger_of_shares(p, q),
        kl=kl_of_log_ratio(q_floored, log_ratio),
    )
