import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from vigil.stats import energy_distance

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

SIZES = [(1, 1), (1, 5), (3, 2), (5, 5), (37, 1_000), (1_000, 37), (10_000, 20_000)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("n_reference", "n_current"), [*SIZES, (200_000, 150_000)])
def test_energy_distance_equals_scipy(shape: str, n_reference: int, n_current: int) -> None:
    reference, current = sample_pair(shape, n_reference, n_current)
    expected = scipy.stats.energy_distance(reference, current)
    assert energy_distance(reference, current) == pytest.approx(expected, rel=1e-9)


def test_energy_distance_equals_its_definition_by_expected_distances() -> None:
    # 2·E|X − Y| − E|X − X'| − E|Y − Y'|, all pairs, on a sample small enough to enumerate.
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=30), rng.normal(0.5, 2.0, size=40)

    def mean_gap(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a[:, None] - b[None, :]).mean())

    expected = np.sqrt(2 * mean_gap(x, y) - mean_gap(x, x) - mean_gap(y, y))
    assert energy_distance(x, y) == pytest.approx(expected, rel=1e-9)


@PROPERTIES
@given(samples())
def test_energy_distance_of_a_sample_with_itself_is_zero(values: np.ndarray) -> None:
    assert energy_distance(values, values) == 0.0


@PROPERTIES
@given(samples(), samples())
def test_energy_distance_is_symmetric_non_negative_and_matches_scipy(
    reference: np.ndarray, current: np.ndarray
) -> None:
    distance = energy_distance(reference, current)
    assert distance == energy_distance(current, reference)
    assert distance >= 0.0
    assert distance == pytest.approx(
        scipy.stats.energy_distance(reference, current), rel=1e-9, abs=1e-12
    )


@PROPERTIES
@given(samples(), samples(), st.integers(0, 2**32 - 1))
def test_energy_distance_ignores_row_order_and_sorting_can_be_skipped(
    reference: np.ndarray, current: np.ndarray, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    expected = energy_distance(reference, current)
    shuffled = energy_distance(rng.permutation(reference), rng.permutation(current))
    assert shuffled == pytest.approx(expected, rel=1e-12, abs=1e-12)
    presorted = energy_distance(np.sort(reference), np.sort(current), assume_sorted=True)
    assert presorted == expected


def test_energy_distance_rejects_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="got 0 reference and 2 current values"):
        energy_distance(np.array([]), np.array([1.0, 2.0]))
