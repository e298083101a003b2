import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import kl_divergence

from .strategies import PROPERTIES, count_pairs


def floored_shares(counts: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    shares = counts / counts.sum()
    return np.where(shares == 0, floor, shares)


@PROPERTIES
@given(count_pairs())
def test_kl_divergence_equals_numpy_and_scipy_on_the_floored_shares(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    reference, current = pair
    p, q = floored_shares(reference), floored_shares(current)
    by_hand = float(np.sum(q * np.log(q / p)))
    by_scipy = float(scipy.special.rel_entr(q, p).sum())
    # Flooring without renormalising can leave the sum a hair below 0; the kernel reports 0.
    assert kl_divergence(reference, current) == pytest.approx(max(by_hand, 0.0), rel=1e-9)
    assert kl_divergence(reference, current) == pytest.approx(max(by_scipy, 0.0), rel=1e-9)


def test_kl_divergence_is_current_relative_to_reference_in_nats() -> None:
    reference, current = np.array([50, 50]), np.array([90, 10])
    expected = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert kl_divergence(reference, current) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence(current, reference) != pytest.approx(expected)  # not symmetric


def test_kl_divergence_is_clamped_at_zero_when_flooring_pushes_it_below() -> None:
    # The reference left bin 2 empty (floored to 1e-4); the current set puts 1e-5 of its rows
    # there: the raw floored sum is about -3.3e-5.
    reference, current = np.array([10, 0]), np.array([99_999, 1])
    p, q = floored_shares(reference), floored_shares(current)
    assert float(np.sum(q * np.log(q / p))) < 0.0
    assert kl_divergence(reference, current) == 0.0


@PROPERTIES
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 10_000)).filter(np.any))
def test_kl_divergence_of_a_histogram_with_itself_is_zero(counts: np.ndarray) -> None:
    assert kl_divergence(counts, counts) == 0.0


@PROPERTIES
@given(count_pairs())
def test_kl_divergence_is_non_negative(pair: tuple[np.ndarray, np.ndarray]) -> None:
    assert kl_divergence(*pair) >= 0.0
