import warnings
from functools import reduce

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from profile_strategies import CHANGES, PROPERTIES, SHAPES, profiles, sample_pair, samples
from scipy import stats as scipy_stats

from vigil.profile import (
    Approximation,
    approximate_ks,
    approximate_ks_p_value,
    approximate_wasserstein,
    merge_numeric,
    numeric_profile,
    reference_numeric_profile,
)


def exact_ks(reference: np.ndarray, current: np.ndarray) -> float:
    with warnings.catch_warnings():
        # scipy's exact p-value can fail numerically; the statistic is unaffected.
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        return float(scipy_stats.ks_2samp(reference, current).statistic)


def exact_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    return float(scipy_stats.wasserstein_distance(reference, current))


def assert_holds(approximation: Approximation, exact: float) -> None:
    assert approximation.lower <= approximation.value <= approximation.upper
    assert approximation.lower <= exact <= approximation.upper, (approximation, exact)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize(
    ("n_reference", "n_current"), [(1, 1), (5, 40), (300, 200), (20_000, 7_000)]
)
def test_the_bounds_hold_the_exact_values(
    shape: str, change: str, n_reference: int, n_current: int
) -> None:
    reference, current = sample_pair(shape, change, n_reference, n_current, seed=n_current)
    ref, cur = profiles(reference, current)
    ks = approximate_ks(ref, cur)
    assert_holds(ks, exact_ks(reference, current))
    assert ks.value - ks.lower <= 1.001e-12  # the largest gap where both CDFs are known
    assert_holds(approximate_wasserstein(ref, cur), exact_wasserstein(reference, current))
    # Swapped roles: the current set on the reference's edges as "reference".
    assert_holds(approximate_ks(cur, ref), exact_ks(current, reference))
    assert_holds(approximate_wasserstein(cur, ref), exact_wasserstein(current, reference))


@PROPERTIES
@given(samples(), samples(), samples(), st.integers(0, 60))
def test_the_bounds_hold_for_any_two_profiles_on_shared_edges(
    edge_values: np.ndarray, reference: np.ndarray, current: np.ndarray, cut: int
) -> None:
    # The edges come from a third sample, and the reference side is merged from two parts:
    # nothing ties the data to the edges but the profile's own counts.
    base = reference_numeric_profile(np.sort(edge_values), missing=0, infinite=0)
    cut = cut % (reference.size + 1)
    parts = [reference[:cut], reference[cut:]]
    ref = reduce(
        merge_numeric, (numeric_profile(p, missing=0, infinite=0, like=base) for p in parts)
    )
    cur = numeric_profile(current, missing=0, infinite=0, like=base)
    assert_holds(approximate_ks(ref, cur), exact_ks(reference, current))
    assert_holds(approximate_wasserstein(ref, cur), exact_wasserstein(reference, current))


def test_identical_sets_give_zero() -> None:
    values = np.random.default_rng(0).normal(size=5_000)
    ref, cur = profiles(values, values)
    assert approximate_ks(ref, cur).value == 0.0
    assert approximate_wasserstein(ref, cur).lower == 0.0
    ties = np.random.default_rng(0).integers(0, 5, 5_000).astype(np.float64)
    ref, cur = profiles(ties, ties)
    assert approximate_ks(ref, cur) == Approximation(0.0, 0.0, 1e-12)
    assert approximate_wasserstein(ref, cur).value == 0.0


def test_integer_data_on_its_own_edges_is_exact() -> None:
    reference, current = sample_pair("integer counts", "shifted", 50_000, 50_000)
    ref, cur = profiles(reference, current)
    ks = approximate_ks(ref, cur)
    assert ks.value == exact_ks(reference, current)
    assert ks.width == pytest.approx(2e-12)
    wasserstein = approximate_wasserstein(ref, cur)
    assert wasserstein.value == pytest.approx(exact_wasserstein(reference, current), rel=1e-3)


@pytest.mark.parametrize(
    ("change", "ks_width", "wasserstein_relative_width"),
    [("shifted", 0.0011, 0.005), ("scaled", 0.0011, 0.02)],
)
def test_the_bounds_are_narrow_on_continuous_data(
    change: str, ks_width: float, wasserstein_relative_width: float
) -> None:
    # The widths docs/profile-format.md reports (normal, 100 000 rows a side).
    reference, current = sample_pair("normal", change, 100_000, 100_000, seed=1)
    ref, cur = profiles(reference, current)
    assert approximate_ks(ref, cur).width <= ks_width
    wasserstein = approximate_wasserstein(ref, cur)
    assert wasserstein.width <= wasserstein_relative_width * wasserstein.value
    assert wasserstein.value == pytest.approx(exact_wasserstein(reference, current), rel=1e-3)


@pytest.mark.parametrize(("n_reference", "n_current"), [(20_000, 15_000), (50_000, 1_000)])
def test_the_p_value_is_scipys_asymptotic_one(n_reference: int, n_current: int) -> None:
    reference, current = sample_pair("normal", "shifted", n_reference, n_current)
    scipy_result = scipy_stats.ks_2samp(reference, current, method="asymp")
    p_value = approximate_ks_p_value(float(scipy_result.statistic), n_reference, n_current)
    assert p_value == float(scipy_result.pvalue)
    assert approximate_ks_p_value(0.0, n_reference, n_current) == 1.0
    assert approximate_ks_p_value(1.0, 1, 1) <= 1.0


def test_profiles_that_cannot_be_compared_are_refused() -> None:
    ref, _ = profiles(np.arange(100.0), np.arange(50.0))
    other = reference_numeric_profile(np.arange(10.0), missing=0, infinite=0)
    for approximate in (approximate_ks, approximate_wasserstein):
        with pytest.raises(ValueError, match=r"same fine bin edges.*like=reference"):
            approximate(ref, other)
        empty = numeric_profile(np.array([]), missing=3, infinite=0, like=ref)
        with pytest.raises(ValueError, match=r"at least one finite value on each side; got 100"):
            approximate(ref, empty)
    with pytest.raises(ValueError, match=r"statistic in \[0, 1\]; got 1.5"):
        approximate_ks_p_value(1.5, 10, 10)
    with pytest.raises(ValueError, match=r"at least 1 value on each side; got 0 reference"):
        approximate_ks_p_value(0.5, 0, 10)
