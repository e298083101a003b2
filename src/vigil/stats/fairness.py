"""Gaps between groups' rates (selection rate, TPR, FPR): the fairness measures' kernels.

A group's rate is successes / total (selected rows / rows for the selection rate; predicted
positives / actual positives for the TPR). Over k groups, the gap is the largest pairwise
one, the pair of the lowest and the highest rate, as fairlearn's `between_groups` aggregate
takes it: `rate_difference` is max − min (≥ 0, 0 when every rate is equal) and `rate_ratio`
is min / max (in [0, 1], 1 when every rate is equal; the disparate impact of the
four-fifths rule).

Each comes with its sampling noise at the groups' sizes, for the pair that attains it:

- the standard error of the difference of two independent proportions,
  √(p₁(1 − p₁)/n₁ + p₂(1 − p₂)/n₂), and, by the delta method for a ratio a/b,
  √(Var a / b² + a² Var b / b⁴) for the ratio;
- a p-value for "the two rates are equal": the pooled two-proportion z-test of that pair
  (`proportions_z_test`), multiplied by the k(k − 1)/2 pairs there are (Bonferroni). The pair
  is chosen *because* its gap is the largest, so its own p-value would be too small; the event
  "the chosen pair is significant" lies inside "some pair is significant", whose probability
  Bonferroni bounds, so the adjusted p-value stays valid (conservative) at any k.

References: Agresti (2013), *Categorical Data Analysis*, §3.1 (two proportions) and §16.1
(delta method); fairlearn's `demographic_parity_difference`/`_ratio` for the definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigil.stats.proportions import proportions_z_test


@dataclass(frozen=True, slots=True)
class Disparity:
    """The gap between the lowest and the highest of several groups' rates."""

    value: float
    standard_error: float  # of `value`, at the two groups' sizes
    p_value: float  # rates equal: the pair's z-test times the number of pairs
    low: int  # index of the group with the lowest rate (the largest such on ties)
    high: int  # index of the group with the highest rate (the largest such on ties)


def _checked(
    successes: NDArray[np.int64], totals: NDArray[np.int64], name: str
) -> tuple[NDArray[np.float64], int, int]:
    s = np.asarray(successes)
    n = np.asarray(totals)
    if s.shape != n.shape or s.ndim != 1 or s.size < 2:
        raise ValueError(
            f"{name} needs two equal-length count vectors of at least 2 groups; got shapes "
            f"{s.shape} and {n.shape}."
        )
    if np.any(n < 1) or np.any(s < 0) or np.any(s > n):
        raise ValueError(
            f"{name} needs every group's total >= 1 and 0 <= successes <= total; got "
            f"successes {s.tolist()} of totals {n.tolist()}. Leave out the empty groups."
        )
    rates = s / n
    # on a tie, the largest group of the tied rate (the pair with the most evidence), so the
    # result does not hang on the groups' order; s/n of equal fractions are equal doubles
    low = np.flatnonzero(rates == rates.min())
    high = np.flatnonzero(rates == rates.max())
    return rates, int(low[np.argmax(n[low])]), int(high[np.argmax(n[high])])


def _pair_p_value(
    successes: NDArray[np.int64], totals: NDArray[np.int64], lo: int, hi: int
) -> float:
    k = successes.size
    test = proportions_z_test(
        int(successes[lo]), int(totals[lo]), int(successes[hi]), int(totals[hi])
    )
    return min(1.0, test.p_value * k * (k - 1) / 2)


def _variance(rate: float, n: int) -> float:
    return rate * (1.0 - rate) / n


def rate_difference(successes: NDArray[np.int64], totals: NDArray[np.int64]) -> Disparity:
    """The highest group rate minus the lowest, with its standard error and p-value.

    >>> d = rate_difference(np.array([30, 60]), np.array([100, 100]))
    >>> round(d.value, 12), round(d.standard_error, 4), (d.low, d.high)
    (0.3, 0.0671, (0, 1))
    """
    rates, lo, hi = _checked(successes, totals, "rate_difference")
    value = float(rates[hi] - rates[lo])
    se = math.sqrt(
        _variance(float(rates[lo]), int(totals[lo])) + _variance(float(rates[hi]), int(totals[hi]))
    )
    return Disparity(value, se, _pair_p_value(successes, totals, lo, hi), lo, hi)


def rate_ratio(successes: NDArray[np.int64], totals: NDArray[np.int64]) -> Disparity:
    """The lowest group rate over the highest (1.0 when all are 0), with its delta-method
    standard error and the same p-value as `rate_difference`.

    >>> r = rate_ratio(np.array([30, 60]), np.array([100, 100]))
    >>> round(r.value, 12), round(r.standard_error, 4)
    (0.5, 0.0866)
    """
    rates, lo, hi = _checked(successes, totals, "rate_ratio")
    a, b = float(rates[lo]), float(rates[hi])
    if b == 0.0:  # nobody selected in any group: the rates are equal
        return Disparity(1.0, 0.0, 1.0, lo, hi)
    var_a, var_b = _variance(a, int(totals[lo])), _variance(b, int(totals[hi]))
    se = math.sqrt(var_a / b**2 + a**2 * var_b / b**4)
    return Disparity(a / b, se, _pair_p_value(successes, totals, lo, hi), lo, hi)
