from unittest import mock

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import vigil.stats.ks
from vigil.stats import TestResult, ks_test
from vigil.stats.ks import EXACT_MAX_SIZE, LIMIT_MIN_SIZE, ks_p_value, kstwo_sf

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

# Both of scipy's p-value branches: exact up to 10 000 rows on the larger side, asymptotic above.
SIZES = [(1, 1), (1, 5), (3, 2), (5, 5), (37, 1_000), (1_000, 37), (5_000, 10_000)]
SIZES += [(10_000, 10_001), (20_000, 15_000), (3, 12_000)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("n_reference", "n_current"), SIZES)
def test_ks_test_equals_scipy(shape: str, n_reference: int, n_current: int) -> None:
    reference, current = sample_pair(shape, n_reference, n_current)
    expected = scipy.stats.ks_2samp(reference, current, method="auto")
    result = ks_test(reference, current)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_ks_test_equals_scipy_on_large_samples(shape: str) -> None:
    reference, current = sample_pair(shape, 200_000, 150_000, seed=1)
    expected = scipy.stats.ks_2samp(reference, current, method="auto")
    result = ks_test(np.sort(reference), np.sort(current), assume_sorted=True)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    # effective size 85 714, above LIMIT_MIN_SIZE: Stephens' limit, within 1.5% of scipy there
    assert result.p_value == pytest.approx(expected.pvalue, rel=1.5e-2, abs=1e-12)


@pytest.mark.parametrize(
    ("n", "error"), [(10_001, 3.5e-2), (100_001, 1.3e-2), (500_000, 6e-3), (1_000_000, 4.5e-3)]
)
@pytest.mark.parametrize("p", [0.9, 0.5, 0.05, 0.02, 1e-4, 1e-6, 1e-12])
def test_ks_p_value_limit_is_within_its_documented_error_of_scipy(
    n: int, error: float, p: float
) -> None:
    statistic = float(scipy.special.kolmogi(p)) / np.sqrt(n)
    expected = scipy.stats.kstwo.sf(statistic, n)
    assert ks_p_value(statistic, float(n)) == pytest.approx(expected, rel=error)


def test_ks_p_value_up_to_the_limit_is_scipys_own() -> None:
    for d in (0.001, 0.005, 0.02):
        assert ks_p_value(d, float(LIMIT_MIN_SIZE)) == scipy.stats.kstwo.sf(d, LIMIT_MIN_SIZE)


@PROPERTIES
@given(st.integers(1, LIMIT_MIN_SIZE), st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 4.0]))
def test_kstwo_sf_is_scipys_bit_for_bit(n: int, share: float, scale: float) -> None:
    # statistics spread over the kernel's regimes: near the support's start 1/(2n), the
    # Ruben–Gambino ends, n·d² around its cut-offs 0.754, 2.2, 4, 18 and 370, and d >= 0.5
    statistic = share if scale == 0.0 else min(1.0, share * scale * 20 / np.sqrt(n))
    for d in (statistic, 0.5 / n, np.nextafter(0.5 / n, 1.0), 1.0 / n, 1.0 - 1.0 / n):
        assert kstwo_sf(float(d), float(n)) == scipy.stats.kstwo.sf(d, n)


def test_kstwo_sf_of_bad_arguments_is_nan_as_scipys() -> None:
    assert np.isnan(kstwo_sf(0.3, 2.5)) and np.isnan(scipy.stats.kstwo.sf(0.3, 2.5))
    assert np.isnan(kstwo_sf(float("nan"), 10.0))
    assert kstwo_sf(1.5, 10.0) == scipy.stats.kstwo.sf(1.5, 10) == 0.0


def test_ks_test_large_samples_from_one_distribution_are_not_significant() -> None:
    rng = np.random.default_rng(7)
    result = ks_test(rng.normal(size=EXACT_MAX_SIZE + 1), rng.normal(size=30_000))
    assert result.p_value > 0.01


def test_ks_test_ties_across_samples_use_the_cdf_after_the_tie() -> None:
    # At x = 1 both CDFs reach 1: the gap there is 0, not the 0.5 a partial count would give.
    assert ks_test(np.array([1.0, 1.0]), np.array([1.0])).statistic == 0.0
    big = np.repeat([0.0, 1.0], EXACT_MAX_SIZE)
    assert ks_test(big, big[::-1].copy()).statistic == 0.0


@PROPERTIES
@given(samples())
def test_ks_test_of_a_sample_with_itself_finds_nothing(values: np.ndarray) -> None:
    assert ks_test(values, values) == TestResult(0.0, 1.0)


@PROPERTIES
@given(samples(), samples())
def test_ks_test_is_symmetric_and_bounded(reference: np.ndarray, current: np.ndarray) -> None:
    forward, backward = ks_test(reference, current), ks_test(current, reference)
    assert forward.statistic == backward.statistic
    assert 0.0 <= forward.statistic <= 1.0
    assert 0.0 <= forward.p_value <= 1.0


@PROPERTIES
@given(samples(), samples(), st.integers(0, 2**32 - 1))
def test_ks_test_ignores_row_order_and_sorting_can_be_skipped(
    reference: np.ndarray, current: np.ndarray, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    expected = ks_test(reference, current)
    assert ks_test(rng.permutation(reference), rng.permutation(current)) == expected
    assert ks_test(np.sort(reference), np.sort(current), assume_sorted=True) == expected


@PROPERTIES
@given(samples(min_size=2), samples())  # 1 vs 1 has effective size round(0.5) = 0: undefined
def test_ks_test_own_statistic_and_asymptotic_p_value_equal_scipy_on_small_samples(
    reference: np.ndarray, current: np.ndarray
) -> None:
    # Above EXACT_MAX_SIZE the kernel computes D itself; forcing that branch on small samples
    # lets Hypothesis hunt for tie patterns where the merge-based D and scipy's could differ.
    with mock.patch.object(vigil.stats.ks, "EXACT_MAX_SIZE", 0):
        result = ks_test(reference, current)
    expected = scipy.stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (np.array([]), np.array([1.0]), "got 0 reference and 1 current values"),
        (np.array([1.0, 2.0]), np.array([]), "got 2 reference and 0 current values"),
        (np.ones((2, 2)), np.ones(3), "shape (2, 2)"),
        (np.array([1.0, np.nan]), np.array([1.0]), "NaN or infinity"),
        (np.array([1.0]), np.array([-np.inf, 1.0]), "NaN or infinity"),
    ],
)
def test_ks_test_rejects_bad_samples(
    reference: np.ndarray, current: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match="ks_test") as error:
        ks_test(reference, current)
    assert message in str(error.value)


def test_kstwo_sf_falls_back_to_scipys_public_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """scipy's private kernel module may move in a release: the public path then answers."""
    import sys

    expected = [scipy.stats.kstwo.sf(d, 437) for d in (0.0, 0.01, 0.07, 0.3, 1.0)]
    monkeypatch.setitem(sys.modules, "scipy.stats._ksstats", None)  # import now fails
    assert [kstwo_sf(d, 437.0) for d in (0.0, 0.01, 0.07, 0.3, 1.0)] == expected
