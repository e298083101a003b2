import numpy as np
import pytest
import scipy.stats
from hypothesis import given

from vigil.stats import cramer_von_mises_test

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

# scipy's "auto" is exact up to 20 values on the larger side, asymptotic above.
SIZES = [(2, 2), (2, 5), (5, 3), (20, 20), (21, 4), (37, 1_000), (1_000, 37), (10_000, 20_000)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("n_reference", "n_current"), SIZES)
def test_cramer_von_mises_test_equals_scipy(shape: str, n_reference: int, n_current: int) -> None:
    reference, current = sample_pair(shape, n_reference, n_current)
    expected = scipy.stats.cramervonmises_2samp(reference, current, method="auto")
    result = cramer_von_mises_test(reference, current)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


@PROPERTIES
@given(samples(min_size=2), samples(min_size=2))
def test_cramer_von_mises_test_is_symmetric_and_bounded(
    reference: np.ndarray, current: np.ndarray
) -> None:
    result = cramer_von_mises_test(reference, current)
    swapped = cramer_von_mises_test(current, reference)
    assert swapped.statistic == pytest.approx(result.statistic, rel=1e-12, abs=1e-12)
    assert swapped.p_value == pytest.approx(result.p_value, rel=1e-12, abs=1e-12)
    assert result.statistic >= 0.0
    assert 0.0 <= result.p_value <= 1.0


@PROPERTIES
@given(samples(min_size=2))
def test_cramer_von_mises_test_of_a_sample_with_itself_is_not_significant(
    values: np.ndarray,
) -> None:
    assert cramer_von_mises_test(values, values).p_value > 0.9


def test_cramer_von_mises_test_needs_two_values_per_side() -> None:
    with pytest.raises(ValueError, match=r"at least 2 value.*got 3 reference and 1 current"):
        cramer_von_mises_test(np.arange(3.0), np.array([1.0]))
