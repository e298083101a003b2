"""The difference of two empirical CDFs on the pooled sample, shared by the CDF-based kernels.

KS takes the largest gap, Wasserstein integrates its absolute value, energy its square.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def pooled_cdf_difference(
    sorted_reference: NDArray[np.float64], sorted_current: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The pooled sorted sample and F_reference − F_current just after each of its values.

    Returns `(pooled, difference)` where `difference[k]` compares the share of each sample
    among `pooled[: k + 1]`. Inside a run of tied values the count is partial; it is exact at
    the last value of each run (where `pooled[k] < pooled[k + 1]`, and at the end, where it is
    0), and only those positions matter: the integrals weigh `difference[k]` by
    `pooled[k + 1] − pooled[k]`, which is 0 inside a run, and KS looks only at run ends.

    Both inputs must be sorted and non-empty.
    """
    n_ref = sorted_reference.size
    n_cur = sorted_current.size
    n_pooled = n_ref + n_cur
    pooled = np.concatenate((sorted_reference, sorted_current))
    # A stable argsort is timsort: it finds the two sorted runs and merges them in one linear
    # pass, and the indices it returns say which sample each pooled value came from. Measured
    # on 1M + 1M sorted float64 (timeit, best of 9, 2 shared cores, numpy 2.4): this function
    # 30 ms, of which the argsort is 20 ms. scipy's route, `np.sort(kind="stable")` of the
    # pooled runs (19 ms) then `searchsorted` of the pooled values into each sample (30 ms
    # each even with sorted keys), costs 80 ms; a merge scattered from two `searchsorted`
    # calls costs 85 ms. One `np.sort` of a 1M array is 15 ms.
    order = np.argsort(pooled, kind="stable")
    pooled = pooled[order]
    # int32 counts when they fit: a cumulative sum into int64 is several times slower.
    count_type = np.int32 if n_pooled < np.iinfo(np.int32).max else np.int64
    ref_seen = np.cumsum(order < n_ref, dtype=count_type)
    cur_seen = np.arange(1, n_pooled + 1, dtype=count_type)
    np.subtract(cur_seen, ref_seen, out=cur_seen)
    # Same divisions as scipy (count / size), so run-end values agree with it bit for bit and
    # two identical samples give exactly 0.
    difference: NDArray[np.float64] = np.divide(ref_seen, n_ref)
    difference -= np.divide(cur_seen, n_cur)
    return pooled, difference
