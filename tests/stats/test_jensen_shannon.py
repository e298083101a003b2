import numpy as np
import pytest
import scipy.spatial.distance
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import jensen_shannon_distance

from .strategies import PROPERTIES, count_pairs


@PROPERTIES
@given(count_pairs())
def test_jensen_shannon_distance_equals_scipy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    expected = scipy.spatial.distance.jensenshannon(reference, current, base=2)
    assert jensen_shannon_distance(reference, current) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


@PROPERTIES
@given(count_pairs())
def test_jensen_shannon_distance_is_symmetric_and_in_0_1(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    reference, current = pair
    distance = jensen_shannon_distance(reference, current)
    assert distance == pytest.approx(jensen_shannon_distance(current, reference), abs=1e-15)
    assert 0.0 <= distance <= 1.0


@PROPERTIES
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 10_000)).filter(np.any))
def test_jensen_shannon_distance_of_a_histogram_with_itself_is_zero(counts: np.ndarray) -> None:
    assert jensen_shannon_distance(counts, counts) == 0.0


def test_jensen_shannon_distance_of_disjoint_histograms_is_one() -> None:
    assert jensen_shannon_distance(np.array([3, 0, 0]), np.array([0, 5, 2])) == 1.0
