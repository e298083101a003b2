"""KS and Wasserstein distances from two numeric profiles, with guaranteed bounds.

A profile keeps no raw values, but it knows its empirical CDF exactly at every fine bin edge
(the cumulative bin counts over the count), where the CDF is 0 (below the minimum) and 1 (from
the maximum on), and the area under the CDF within each fine bin (from the bin's offsets).
Between those points a CDF is only known to be non-decreasing. That is enough to bound both
distances rigorously: the exact value, the one `vigil.stats.ks_test` or
`wasserstein_distance` computes from the raw values, lies in [lower, upper]. The derivation
is in docs/profile-format.md ("Approximate KS and Wasserstein"), with measured bound widths:
about 0.001 for KS (one fine bin's share of the reference) on continuous data, and a small
fraction of the distance for Wasserstein.

The bounds hold for profiles built from data by `vigil.profile` (and merged); a profile whose
fields were made up by hand can disagree with itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigil.profile.numeric import NumericProfile

# The Wasserstein bounds add up ~1000 bins' areas, computed from float sums; they are widened
# by this share of the distance and of the data's range so that the exact value, computed
# with other rounding, still lies inside.
_FLOAT_SLACK = 1e-9
_KS_SLACK = 1e-12


@dataclass(frozen=True, slots=True)
class Approximation:
    """An estimate of a distance and an interval that holds the exact value.

    >>> Approximation(value=0.2, lower=0.19, upper=0.21).width
    0.01999999999999999
    """

    value: float  # the estimate, lower <= value <= upper
    lower: float
    upper: float

    @property
    def width(self) -> float:
        """How far apart the bounds are: the most the estimate can be off by."""
        return self.upper - self.lower


def approximate_ks(reference: NumericProfile, current: NumericProfile) -> Approximation:
    """The two-sample KS statistic D = sup |F − G| from two profiles on the same fine edges.

    The value is the largest gap at the points where both CDFs are known exactly, so it never
    exceeds the exact D; `upper` bounds the gap everywhere between those points. Both bounds
    are widened by 1e-12 for float rounding.

    >>> import numpy as np
    >>> from vigil.profile.numeric import numeric_profile, reference_numeric_profile
    >>> from vigil.stats import ks_test
    >>> rng = np.random.default_rng(0)
    >>> ref_values, cur_values = rng.normal(0.0, 1.0, 10_000), rng.normal(0.5, 1.0, 10_000)
    >>> ref = reference_numeric_profile(np.sort(ref_values), missing=0, infinite=0)
    >>> cur = numeric_profile(cur_values, missing=0, infinite=0, like=ref)
    >>> d = approximate_ks(ref, cur)
    >>> d.lower <= ks_test(ref_values, cur_values).statistic <= d.upper
    True
    >>> round(d.value, 4), round(d.width, 4)
    (0.1939, 0.001)
    """
    _, f, g = _bounds(reference, current, "approximate_ks")
    f_lo, f_hi, f_hi_left = f
    g_lo, g_hi, g_hi_left = g
    # At each grid point: F(p) in [f_lo, f_hi], G(p) in [g_lo, g_hi].
    point_lower = np.maximum(f_lo - g_hi, g_lo - f_hi)
    point_upper = np.maximum(f_hi - g_lo, g_hi - f_lo)
    # On each open cell (p_i, p_i+1) F runs from F(p_i) up to F(p_i+1-), and so does G.
    cell_lower = np.maximum(f_lo[:-1] - g_hi_left[1:], g_lo[:-1] - f_hi_left[1:])
    cell_upper = np.maximum(f_hi_left[1:] - g_lo[:-1], g_hi_left[1:] - f_lo[:-1])
    largest = max(0.0, float(point_lower.max()), float(cell_lower.max(initial=0.0)))
    upper = max(largest, float(point_upper.max()), float(cell_upper.max(initial=0.0)))
    # D is a fraction a/n − b/m; scipy rounds it differently (to the nearest float of the
    # fraction in its exact mode), so the bounds are widened by far more than any rounding.
    return Approximation(largest, max(0.0, largest - _KS_SLACK), min(1.0, upper + _KS_SLACK))


def approximate_ks_p_value(statistic: float, n_reference: int, n_current: int) -> float:
    """The p-value of a KS statistic by Smirnov's asymptotic distribution.

    This is scipy's `ks_2samp(..., method="asymp")` two-sided p-value:
    `kstwo.sf(D, round(m·n / (m + n)))` (at least 1), which is what a profile allows, as the
    exact distribution needs the raw values.

    >>> round(approximate_ks_p_value(0.05, 1000, 1000), 4)
    0.1587
    """
    if not 0.0 <= statistic <= 1.0:
        raise ValueError(f"approximate_ks_p_value needs a statistic in [0, 1]; got {statistic}.")
    if n_reference < 1 or n_current < 1:
        raise ValueError(
            "approximate_ks_p_value needs at least 1 value on each side; got "
            f"{n_reference} reference and {n_current} current values."
        )
    # As scipy: the larger size first so that the product is taken in floats safely.
    m, n = float(max(n_reference, n_current)), float(min(n_reference, n_current))
    effective = max(1.0, float(np.round(m * n / (m + n))))
    from scipy import stats as scipy_stats  # profiles only: its import is a second long

    p_value = float(scipy_stats.kstwo.sf(statistic, effective))
    return float(np.clip(p_value, 0.0, 1.0))


def approximate_wasserstein(reference: NumericProfile, current: NumericProfile) -> Approximation:
    """The Wasserstein-1 distance ∫ |F − G| dx from two profiles on the same fine edges.

    Within each fine bin the signed area ∫ (F − G) is known exactly (from the bins' offsets),
    and so is the area wherever one CDF is surely above the other; the rest is bounded by what
    the CDFs can do between the points where they are known. The value draws both CDFs
    linearly within bins, kept within each bin's bounds.

    >>> import numpy as np
    >>> from vigil.profile.numeric import numeric_profile, reference_numeric_profile
    >>> from vigil.stats import wasserstein_distance
    >>> rng = np.random.default_rng(0)
    >>> ref_values, cur_values = rng.normal(0.0, 1.0, 10_000), rng.normal(0.5, 1.0, 10_000)
    >>> ref = reference_numeric_profile(np.sort(ref_values), missing=0, infinite=0)
    >>> cur = numeric_profile(cur_values, missing=0, infinite=0, like=ref)
    >>> w = approximate_wasserstein(ref, cur)
    >>> w.lower <= wasserstein_distance(ref_values, cur_values) <= w.upper
    True
    >>> round(w.value, 4), round(w.width, 4)
    (0.4967, 0.0004)
    """
    grid, f, g = _bounds(reference, current, "approximate_wasserstein")
    f_lo, _, f_hi_left = f
    g_lo, _, g_hi_left = g
    n_bins = reference.fine_counts.size
    width = np.diff(grid)
    # Each open cell (p_i, p_i+1) of the grid lies in one fine bin: the one its right end
    # closes. On it F is in [F(p_i), F(p_i+1 −)] and G likewise.
    cell_bin = np.searchsorted(reference.fine_edges, grid[1:], side="left")
    cf_lo, cf_hi = f_lo[:-1], f_hi_left[1:]
    cg_lo, cg_hi = g_lo[:-1], g_hi_left[1:]

    def per_bin(cell_values: NDArray[np.float64]) -> NDArray[np.float64]:
        # With weights, bincount sums in float64 (its stubs say int).
        sums = np.bincount(cell_bin, weights=width * cell_values, minlength=n_bins)
        return sums.astype(np.float64)

    # Per bin, P = ∫ (F − G)+ and N = ∫ (G − F)+ are bounded cell by cell ...
    p_lower = per_bin(np.maximum(cf_lo - cg_hi, 0.0))
    n_lower = per_bin(np.maximum(cg_lo - cf_hi, 0.0))
    envelope = per_bin(np.maximum(cf_hi - cg_lo, cg_hi - cf_lo))
    # ... and by how far each CDF rises within the bin (its offsets), from where it opens:
    # F − G <= (F(a) − G(a)) + (F − F(a)). Over the last bin the rises are measured down
    # from 1, so there F − G = (1 − G) − (1 − F) <= 1 − G.
    f_rise = reference.fine_offsets / reference.count
    g_rise = current.fine_offsets / current.count
    start_gap = _start_gap(reference, current)
    p_rise = np.maximum(start_gap, 0.0) + np.append(f_rise[:-1], g_rise[-1])
    n_rise = np.maximum(-start_gap, 0.0) + np.append(g_rise[:-1], f_rise[-1])
    p_upper = np.minimum(per_bin(np.maximum(cf_hi - cg_lo, 0.0)), p_rise)
    n_upper = np.minimum(per_bin(np.maximum(cg_hi - cf_lo, 0.0)), n_rise)
    # P − N, the signed area ∫ (F − G) over the bin, is known exactly from the same terms;
    # so the bin's W = P + N = 2N + A = 2P − A.
    area = start_gap + f_rise - g_rise
    area[-1] = g_rise[-1] - f_rise[-1]
    lower = np.maximum(p_lower + n_lower, np.maximum(2 * n_lower + area, 2 * p_lower - area))
    upper = np.minimum(envelope, np.minimum(2 * n_upper + area, 2 * p_upper - area))
    # Bins where rounding left the two a hair crossed (the bounds then agree).
    lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
    # The estimate: the signed area is exact, so only the smaller of P and N is estimated,
    # from CDFs drawn linearly within bins: W = |A| + 2 × (N if A >= 0 else P).
    p_linear, n_linear = _linear_gap_areas(grid, reference, current)
    p_model, n_model = per_bin(p_linear), per_bin(n_linear)
    # A linear CDF is a poor model of a tail: in the two outer bins, unbounded on one side,
    # each tail is drawn as an exponential with the tail's share and mean distance instead.
    p_model[0], n_model[0] = _exponential_tails(_tail(reference, 0), _tail(current, 0))
    n_model[-1], p_model[-1] = _exponential_tails(_tail(reference, -1), _tail(current, -1))
    smaller = np.where(area >= 0.0, n_model, p_model)
    estimate = np.clip(np.abs(area) + 2.0 * smaller, lower, upper)
    total_upper = float(upper.sum())
    slack = _FLOAT_SLACK * (total_upper + float(grid[-1] - grid[0]))
    return Approximation(
        float(estimate.sum()), max(0.0, float(lower.sum()) - slack), total_upper + slack
    )


_Bounds = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def _bounds(
    reference: NumericProfile, current: NumericProfile, method: str
) -> tuple[NDArray[np.float64], _Bounds, _Bounds]:
    """The grid of points where something is known, and each CDF's bounds on it."""
    if reference.count == 0 or current.count == 0:
        raise ValueError(
            f"{method} needs at least one finite value on each side; got {reference.count} "
            f"reference and {current.count} current values."
        )
    if not np.array_equal(reference.fine_edges, current.fine_edges):
        raise ValueError(
            f"{method} needs two profiles on the same fine bin edges; got "
            f"{reference.fine_edges.size} and {current.fine_edges.size} edges that differ. "
            "Build the current profile with numeric_profile(..., like=reference)."
        )
    extremes = [reference.min, reference.max, current.min, current.max]
    grid = np.unique(np.concatenate((reference.fine_edges, extremes)))
    return grid, _cdf_bounds(reference, grid), _cdf_bounds(current, grid)


def _cdf_bounds(profile: NumericProfile, grid: NDArray[np.float64]) -> _Bounds:
    """Bounds on one empirical CDF at each grid point p: F(p) in [lo, hi], F(p−) <= hi_left.

    Worked in counts and divided once by n, as scipy does, so that a bound equal to the exact
    CDF is equal to it bit for bit.
    """
    n = profile.count
    edges = profile.fine_edges
    # at_or_below[j]: the values in the bins before bin j, i.e. <= the edge that opens bin j.
    at_or_below = np.concatenate(([0], np.cumsum(profile.fine_counts)))
    j = np.searchsorted(edges, grid, side="left")  # the right-closed bin that holds p
    on_edge = edges[np.minimum(j, edges.size - 1)] == grid
    before, through = at_or_below[j], at_or_below[j + 1]
    # A bin whose offsets sum to 0 holds nothing but copies of its right edge: F is flat inside.
    flat = profile.fine_offsets[j] == 0.0
    lo = np.where(on_edge, through, before)
    hi = np.where(on_edge | ~flat, through, before)
    low, high = profile.min, profile.max
    # The minimum is a value <= p once p >= min; the maximum is a value > p while p < max.
    lo = np.where(grid >= high, n, np.where(grid >= low, np.maximum(lo, 1), 0))
    hi = np.where(grid < low, 0, np.where(grid >= high, n, np.minimum(hi, n - 1)))
    # F(p−) counts the values < p: none while p <= min, all once p > max, never the max, and
    # at the right edge of a flat bin only the bins before it.
    hi_left = np.where(on_edge & flat, before, hi)
    hi_left = np.where(grid <= low, 0, np.where(grid > high, n, np.minimum(hi_left, n - 1)))
    return lo / n, hi / n, hi_left / n


def _start_gap(reference: NumericProfile, current: NumericProfile) -> NDArray[np.float64]:
    """Per fine bin, (F(a) − G(a)) times the bin's width, where a opens the bin.

    0 for the outer bins: F = G = 0 before both minima, and the last bin's rises are
    measured from F = G = 1 beyond both maxima.
    """
    gap = np.zeros(reference.fine_counts.size)
    f_at = np.cumsum(reference.fine_counts)[:-1] / reference.count
    g_at = np.cumsum(current.fine_counts)[:-1] / current.count
    gap[1:-1] = np.diff(reference.fine_edges) * (f_at[:-1] - g_at[:-1])
    return gap


def _tail(profile: NumericProfile, end: int) -> tuple[float, float]:
    """An outer bin's share of the values and their mean distance to the bin's edge."""
    count = int(profile.fine_counts[end])
    if count == 0:
        return 0.0, 0.0
    return count / profile.count, float(profile.fine_offsets[end]) / count


def _exponential_tails(
    first: tuple[float, float], second: tuple[float, float]
) -> tuple[float, float]:
    """∫ (e₁ − e₂)+ and ∫ (e₂ − e₁)+ over y >= 0, where eᵢ(y) = shareᵢ · exp(−y / meanᵢ).

    An exponential tail with share t and mean distance μ has area t·μ, the tail's exact
    area; the two curves cross at most once.
    """
    (t1, mu1), (t2, mu2) = first, second
    area1, area2 = t1 * mu1, t2 * mu2
    difference = area1 - area2
    if area1 == 0.0 or area2 == 0.0:
        return max(difference, 0.0), max(-difference, 0.0)
    # e₁ = e₂ where log(t1/t2) = y (1/mu1 − 1/mu2) (tails share and decay are never 0 here).
    rates = 1.0 / mu1 - 1.0 / mu2
    crossing = math.log(t1 / t2) / rates if rates != 0.0 else math.inf
    if not 0.0 < crossing < math.inf:
        return max(difference, 0.0), max(-difference, 0.0)
    before = area1 * -math.expm1(-crossing / mu1) - area2 * -math.expm1(-crossing / mu2)
    after = area1 * math.exp(-crossing / mu1) - area2 * math.exp(-crossing / mu2)
    return max(before, 0.0) + max(after, 0.0), max(-before, 0.0) + max(-after, 0.0)


def _linear_gap_areas(
    grid: NDArray[np.float64], reference: NumericProfile, current: NumericProfile
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per grid cell, the mean of (F̂ − Ĝ)+ and of (Ĝ − F̂)+, each CDF spread evenly per bin."""
    width = np.diff(grid)
    # Both estimates are linear on every cell (their knots are grid points): read the gap at
    # a quarter and three quarters of each cell and extend it to the cell's ends.
    at_quarter = grid[:-1] + 0.25 * width
    at_three_quarters = grid[:-1] + 0.75 * width
    first = _linear_cdf(reference, at_quarter) - _linear_cdf(current, at_quarter)
    second = _linear_cdf(reference, at_three_quarters) - _linear_cdf(current, at_three_quarters)
    step = 0.5 * (second - first)
    start, end = first - step, second + step
    # A linear gap from s to e: its positive part has mean (s+ + e+)/2 without a sign change,
    # and (s+² + e+²) / (2(|s| + |e|)) with one (a triangle).
    size = np.abs(start) + np.abs(end)
    crosses = start * end < 0.0

    def mean_part(s: NDArray[np.float64], e: NDArray[np.float64]) -> NDArray[np.float64]:
        triangle = np.divide(s * s + e * e, 2.0 * size, out=np.zeros_like(size), where=crosses)
        part: NDArray[np.float64] = np.where(crosses, triangle, 0.5 * (s + e))
        return part

    positive = mean_part(np.maximum(start, 0.0), np.maximum(end, 0.0))
    negative = mean_part(np.maximum(-start, 0.0), np.maximum(-end, 0.0))
    return positive, negative


def _linear_cdf(profile: NumericProfile, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The CDF with each fine bin's count spread evenly over the bin clipped to [min, max].

    A bin whose values all equal its right edge keeps them there. `x` must not be an edge.
    """
    edges, counts, n = profile.fine_edges, profile.fine_counts, profile.count
    before = np.concatenate(([0], np.cumsum(counts)))
    j = np.searchsorted(edges, x, side="left")
    start = np.maximum(np.concatenate(([-np.inf], edges))[j], profile.min)
    end = np.minimum(np.concatenate((edges, [np.inf]))[j], profile.max)
    span = end - start
    spread = (span > 0) & (profile.fine_offsets[j] > 0.0)
    share = np.divide(x - start, span, out=(x >= end).astype(np.float64), where=spread)
    result: NDArray[np.float64] = (before[j] + counts[j] * np.clip(share, 0.0, 1.0)) / n
    return result
