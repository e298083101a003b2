import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given

from vigil.stats import TestResult, anderson_darling_test

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

SIZES = [(2, 2), (2, 5), (5, 3), (37, 1_000), (1_000, 37), (10_000, 20_000)]


def scipy_anderson(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    # scipy warns whenever it clips the p-value to [0.001, 0.25]; expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="p-value (capped|floored)")
        result = scipy.stats.anderson_ksamp([reference, current], variant="midrank")
    return float(result.statistic), float(result.pvalue)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("n_reference", "n_current"), SIZES)
def test_anderson_darling_test_equals_scipy(shape: str, n_reference: int, n_current: int) -> None:
    reference, current = sample_pair(shape, n_reference, n_current)
    statistic, p_value = scipy_anderson(reference, current)
    result = anderson_darling_test(reference, current)
    assert result.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


def test_anderson_darling_test_p_value_is_clipped_without_a_warning() -> None:
    values = np.arange(50.0)
    assert anderson_darling_test(values, values).p_value == 0.25  # "0.25 or more"
    assert anderson_darling_test(values, values + 100.0).p_value == 0.001  # "0.001 or less"


def test_anderson_darling_test_of_one_shared_value_finds_nothing() -> None:
    assert anderson_darling_test(np.full(3, 7.0), np.full(5, 7.0)) == TestResult(0.0, 0.25)


@PROPERTIES
@given(samples(min_size=2), samples(min_size=2))
def test_anderson_darling_test_is_symmetric_and_p_value_stays_in_the_table(
    reference: np.ndarray, current: np.ndarray
) -> None:
    result = anderson_darling_test(reference, current)
    assert 0.001 <= result.p_value <= 0.25
    swapped = anderson_darling_test(current, reference)
    assert swapped.statistic == pytest.approx(result.statistic, rel=1e-12, abs=1e-12)
    assert swapped.p_value == pytest.approx(result.p_value, rel=1e-12, abs=1e-12)


@PROPERTIES
@given(samples(min_size=2))
def test_anderson_darling_test_of_a_sample_with_itself_is_not_significant(
    values: np.ndarray,
) -> None:
    assert anderson_darling_test(values, values).p_value == 0.25


def test_anderson_darling_test_needs_two_values_per_side() -> None:
    with pytest.raises(ValueError, match=r"at least 2 value.*got 1 reference and 4 current"):
        anderson_darling_test(np.array([1.0]), np.arange(4.0))
