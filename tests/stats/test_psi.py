import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import psi

from .strategies import PROPERTIES, count_pairs


def reference_psi(reference: np.ndarray, current: np.ndarray, floor: float = 1e-4) -> float:
    """PSI term by term, in plain Python."""
    total_p, total_q = sum(reference.tolist()), sum(current.tolist())
    value = 0.0
    for r, c in zip(reference.tolist(), current.tolist(), strict=True):
        p, q = (r / total_p) or floor, (c / total_q) or floor
        value += (q - p) * np.log(q / p)
    return value


def test_psi_of_a_known_shift() -> None:
    # Shares (0.6, 0.4) against (0.4, 0.6): 2 · 0.2 · ln 1.5.
    assert psi(np.array([60, 40]), np.array([40, 60])) == pytest.approx(0.4 * np.log(1.5))


def test_psi_floors_only_empty_bins() -> None:
    # The empty current bin counts as a `floor` share; the 0.5 and 1.0 shares are not touched.
    for floor in (1e-4, 1e-3):
        expected = (floor - 0.5) * np.log(floor / 0.5) + (1.0 - 0.5) * np.log(1.0 / 0.5)
        assert psi(np.array([5, 5]), np.array([0, 8]), floor=floor) == pytest.approx(expected)


@PROPERTIES
@given(count_pairs())
def test_psi_equals_the_term_by_term_formula(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    assert psi(reference, current) == pytest.approx(reference_psi(reference, current), rel=1e-9)


@PROPERTIES
@given(count_pairs())
def test_psi_is_symmetric_and_non_negative(pair: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = pair
    assert psi(reference, current) == pytest.approx(psi(current, reference), rel=1e-12, abs=1e-15)
    assert psi(reference, current) >= 0.0


@PROPERTIES
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 10_000)).filter(np.any))
def test_psi_of_a_histogram_with_itself_or_a_multiple_is_zero(counts: np.ndarray) -> None:
    assert psi(counts, counts) == 0.0
    assert psi(counts, 3 * counts) == pytest.approx(0.0, abs=1e-12)


@PROPERTIES
@given(count_pairs(), st.integers(0, 2**32 - 1))
def test_psi_ignores_the_order_of_bins(pair: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    reference, current = pair
    order = np.random.default_rng(seed).permutation(reference.size)
    assert psi(reference[order], current[order]) == pytest.approx(psi(reference, current))


@pytest.mark.parametrize("floor", [0.0, -1e-4, 1.0])
def test_psi_rejects_a_floor_outside_0_1(floor: float) -> None:
    with pytest.raises(ValueError, match=f"0 < floor < 1.*got {floor}"):
        psi(np.array([1, 0]), np.array([0, 1]), floor=floor)
