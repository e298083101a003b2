import numpy as np
import pytest
import scipy.spatial.distance
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import hellinger_distance

from .strategies import PROPERTIES, count_pairs


@PROPERTIES
@given(count_pairs())
def test_hellinger_distance_equals_both_textbook_forms(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    p, q = reference / reference.sum(), current / current.sum()
    euclidean = scipy.spatial.distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2)
    bhattacharyya = np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q)))))
    distance = hellinger_distance(reference, current)
    assert distance == pytest.approx(min(euclidean, 1.0), rel=1e-9, abs=1e-12)
    # 1 − Σ√(pq) cancels: after the square root its rounding residue is about 1e-8.
    assert distance == pytest.approx(bhattacharyya, abs=1e-7)


@PROPERTIES
@given(count_pairs())
def test_hellinger_distance_is_symmetric_and_in_0_1(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    distance = hellinger_distance(reference, current)
    assert distance == hellinger_distance(current, reference)
    assert 0.0 <= distance <= 1.0


@PROPERTIES
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 10_000)).filter(np.any))
def test_hellinger_distance_of_a_histogram_with_itself_is_zero(counts: np.ndarray) -> None:
    assert hellinger_distance(counts, counts) == 0.0


def test_hellinger_distance_of_disjoint_histograms_is_one() -> None:
    assert hellinger_distance(np.array([3, 0, 0]), np.array([0, 5, 2])) == 1.0
