import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import TestResult, chi2_test

from .strategies import PROPERTIES, count_pairs


@PROPERTIES
@given(count_pairs(min_bins=2))
def test_chi2_test_equals_scipy_after_dropping_categories_empty_on_both_sides(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    reference, current = pair
    seen = (reference + current) > 0
    result = chi2_test(reference, current)
    if seen.sum() < 2:
        assert result == TestResult(0.0, 1.0)
        return
    expected = scipy.stats.chi2_contingency(np.vstack([reference[seen], current[seen]]))
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


def test_chi2_test_uses_yates_correction_for_two_categories() -> None:
    reference, current = np.array([30, 10]), np.array([20, 20])
    corrected = scipy.stats.chi2_contingency(np.vstack([reference, current]), correction=True)
    uncorrected = scipy.stats.chi2_contingency(np.vstack([reference, current]), correction=False)
    assert chi2_test(reference, current).statistic == pytest.approx(corrected.statistic)
    assert chi2_test(reference, current).statistic < uncorrected.statistic


def test_chi2_test_with_a_single_category_left_finds_nothing() -> None:
    assert chi2_test(np.array([0, 4, 0]), np.array([0, 9, 0])) == TestResult(0.0, 1.0)
    assert chi2_test(np.array([7]), np.array([3])) == TestResult(0.0, 1.0)


@PROPERTIES
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 10_000)).filter(np.any))
def test_chi2_test_of_a_histogram_with_itself_finds_nothing(counts: np.ndarray) -> None:
    assert chi2_test(counts, counts) == TestResult(0.0, 1.0)


@PROPERTIES
@given(count_pairs())
def test_chi2_test_is_symmetric_and_bounded(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    result = chi2_test(reference, current)
    swapped = chi2_test(current, reference)
    assert swapped.statistic == pytest.approx(result.statistic, rel=1e-12, abs=1e-12)
    assert swapped.p_value == pytest.approx(result.p_value, rel=1e-12, abs=1e-12)
    assert result.statistic >= 0.0
    assert 0.0 <= result.p_value <= 1.0
