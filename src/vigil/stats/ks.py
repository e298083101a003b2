"""Two-sample Kolmogorov–Smirnov test: the largest gap between two empirical CDFs."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from scipy import special

from vigil.stats._cdf import pooled_cdf_difference
from vigil.stats._samples import sorted_samples
from vigil.stats.result import TestResult

# Up to this many rows on the larger side, scipy's `method="auto"` computes the exact p-value
# (scipy's `MAX_AUTO_N`); above it, Smirnov's asymptotic distribution.
EXACT_MAX_SIZE = 10_000
# Above an effective size of 10 000 vigil uses the limiting Kolmogorov distribution at
# Stephens' (1970) modified statistic (√n + 0.12 + 0.11/√n)·D, from scipy.special, instead of
# scipy's `kstwo.sf(d, n)`: that one lives in scipy.stats, whose import costs a second of a
# short run, and takes time proportional to n when n·d² >= 2.2 (0.8 s at n = 500 000, the
# effective size of 1M vs 1M rows). Both are approximations of the two-sample distribution at
# the effective size. Measured against scipy over every D with p ≥ 1e-12: within 3.5%
# relative at n = 10 000, 1.3% at 10^5 and 0.6% at 5·10^5 — far below what can move a verdict.
LIMIT_MIN_SIZE = 10_000


def ks_test(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    *,
    assume_sorted: bool = False,
) -> TestResult:
    """Two-sided two-sample Kolmogorov–Smirnov test of `current` against `reference`.

    The statistic is D = sup |F_reference(x) − F_current(x)| in [0, 1]; the p-value is the
    exact one while the larger sample has at most 10 000 values and Smirnov's asymptotic one
    above, as `scipy.stats.ks_2samp(reference, current, method="auto")` computes them — except
    above an effective size of 10 000, where the limiting distribution with Stephens'
    correction is used (within 3.5% relative of scipy; see `LIMIT_MIN_SIZE`).

    Pass `assume_sorted=True` when both samples are already sorted ascending (they are then
    neither copied nor checked); the result is wrong if they are not.

    References: Smirnov (1939), *On the estimation of the discrepancy between empirical curves
    of distribution for two independent samples*; `scipy.stats.ks_2samp`.

    >>> import numpy as np
    >>> result = ks_test(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]))
    >>> result.statistic, round(result.p_value, 4)
    (0.5, 0.7714)
    >>> ks_test(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    TestResult(statistic=0.0, p_value=1.0)
    """
    ref, cur = sorted_samples("ks_test", reference, current, assume_sorted=assume_sorted)
    n_ref, n_cur = ref.size, cur.size
    if max(n_ref, n_cur) <= EXACT_MAX_SIZE:
        from scipy import stats as scipy_stats  # only here: its import is a second long

        # Small enough for scipy's exact p-value to be cheap. When its exact computation
        # fails numerically scipy switches to the asymptotic p-value itself and warns; that
        # warning is not something a caller can act on.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="ks_2samp: Exact calculation unsuccessful",
                category=RuntimeWarning,
            )
            exact = scipy_stats.ks_2samp(ref, cur, method="auto")
        return TestResult(float(exact.statistic), float(exact.pvalue))
    statistic = _statistic_of_sorted(ref, cur)
    # scipy's asymptotic branch, reproduced exactly: the effective size m·n/(m + n) in floats
    # (m the larger size, so the product cannot overflow), rounded for `kstwo`.
    m, n = float(max(n_ref, n_cur)), float(min(n_ref, n_cur))
    return TestResult(statistic, ks_p_value(statistic, m * n / (m + n)))


def ks_p_value(statistic: float, effective_size: float) -> float:
    """Two-sided p-value of a KS statistic at effective size m·n/(m + n), for large samples.

    scipy's asymptotic `kstwo.sf(D, round(n))` up to n = 10 000, its Stephens-corrected limit
    above (see `LIMIT_MIN_SIZE`).

    >>> from scipy import stats
    >>> bool(ks_p_value(0.05, 5_000.0) == stats.kstwo.sf(0.05, 5_000))  # scipy's value
    True
    >>> bool(abs(ks_p_value(0.003, 500_000.0) / stats.kstwo.sf(0.003, 500_000) - 1) < 0.006)
    True
    """
    n = float(np.round(effective_size))
    if n > LIMIT_MIN_SIZE:
        root = np.sqrt(n)
        p_value = special.kolmogorov((root + 0.12 + 0.11 / root) * statistic)
    else:
        p_value = kstwo_sf(statistic, n)
    return float(np.clip(p_value, 0.0, 1.0))


def kstwo_sf(statistic: float, n: float) -> float:
    """`scipy.stats.kstwo.sf(statistic, n)`, the same value, without the distribution's
    generic argument handling (about 0.1 ms of a window column's 0.5 ms).

    scipy's `sf` checks n (an integer ≥ 1), gives 1 at and below the support's start 1/(2n),
    0 from its end 1 on, and between them calls the Simard–L'Ecuyer kernel of
    `scipy.stats._ksstats` (`kolmogn(n, x, cdf=False)`); this does the same, in the same order,
    and a test compares the two over the regimes of the kernel.

    >>> from scipy import stats
    >>> all(kstwo_sf(d, 500.0) == stats.kstwo.sf(d, 500) for d in (0.0, 0.001, 0.05, 0.5, 1.0))
    True
    """
    try:  # only here: scipy.stats' import is a second long
        from scipy.stats._ksstats import kolmogn  # scipy's private module: it may move
    except ImportError:  # then the public, slower path, which gives the same numbers
        from scipy import stats

        return float(stats.kstwo.sf(statistic, n))

    if not (n >= 1 and n == np.round(n)) or np.isnan(statistic):
        return float("nan")  # scipy's answer to a bad n or a NaN statistic
    if statistic <= 0.5 / n:
        return 1.0
    if statistic >= 1.0:
        return 0.0
    return float(kolmogn(n, statistic, cdf=False))


def _statistic_of_sorted(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> float:
    """D from two sorted samples, in one merge (no re-sort of the pooled sample)."""
    return statistic_of_difference(*pooled_cdf_difference(ref, cur))


def statistic_of_difference(pooled: NDArray[np.float64], difference: NDArray[np.float64]) -> float:
    """D from the pooled sample and the CDF difference of `pooled_cdf_difference`."""
    # The CDFs only step at pooled values; the gap after a run of ties is the one that
    # counts (inside a run it is partial). The last position is the end, where it is 0.
    run_end = pooled[1:] != pooled[:-1]
    gaps = difference[:-1]
    largest = float(np.max(gaps, where=run_end, initial=0.0))
    smallest = float(np.min(gaps, where=run_end, initial=0.0))
    return max(largest, -smallest)
