import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from vigil.stats import wasserstein_distance

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

SIZES = [(1, 1), (1, 5), (3, 2), (5, 5), (37, 1_000), (1_000, 37), (10_000, 20_000)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("n_reference", "n_current"), [*SIZES, (200_000, 150_000)])
def test_wasserstein_distance_equals_scipy(shape: str, n_reference: int, n_current: int) -> None:
    reference, current = sample_pair(shape, n_reference, n_current)
    expected = scipy.stats.wasserstein_distance(reference, current)
    assert wasserstein_distance(reference, current) == pytest.approx(expected, rel=1e-9)


def test_wasserstein_distance_is_the_size_of_a_shift() -> None:
    values = np.random.default_rng(3).normal(size=1_000)
    assert wasserstein_distance(values, values + 2.5) == pytest.approx(2.5, rel=1e-12)


@PROPERTIES
@given(samples())
def test_wasserstein_distance_of_a_sample_with_itself_is_zero(values: np.ndarray) -> None:
    assert wasserstein_distance(values, values) == 0.0


@PROPERTIES
@given(samples(), samples())
def test_wasserstein_distance_is_symmetric_non_negative_and_matches_scipy(
    reference: np.ndarray, current: np.ndarray
) -> None:
    distance = wasserstein_distance(reference, current)
    assert distance == wasserstein_distance(current, reference)
    assert distance >= 0.0
    assert distance == pytest.approx(
        scipy.stats.wasserstein_distance(reference, current), rel=1e-9, abs=1e-12
    )


@PROPERTIES
@given(samples(), samples(), st.integers(0, 2**32 - 1))
def test_wasserstein_distance_ignores_row_order_and_sorting_can_be_skipped(
    reference: np.ndarray, current: np.ndarray, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    expected = wasserstein_distance(reference, current)
    shuffled = wasserstein_distance(rng.permutation(reference), rng.permutation(current))
    assert shuffled == pytest.approx(expected, rel=1e-12, abs=1e-12)
    presorted = wasserstein_distance(np.sort(reference), np.sort(current), assume_sorted=True)
    assert presorted == expected


def test_wasserstein_distance_rejects_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="got 3 reference and 0 current values"):
        wasserstein_distance(np.array([1.0, 2.0, 3.0]), np.array([]))
