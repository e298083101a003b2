"""Is a count beyond sampling noise: the one-sided tests behind the quality checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from vigil.stats import (
    adjust_p_values,
    beyond_range_test,
    constant_chance,
    excess_count_test,
    share_increase_test,
)

from .strategies import PROPERTIES


@st.composite
def two_counts(draw: st.DrawFn) -> tuple[int, int, int, int]:
    n_ref = draw(st.integers(1, 3_000))
    n_cur = draw(st.integers(1, 3_000))
    return draw(st.integers(0, n_ref)), n_ref, draw(st.integers(0, n_cur)), n_cur


@PROPERTIES
@given(two_counts())
def test_share_increase_test_is_fishers_exact_test_one_sided(
    counts: tuple[int, int, int, int],
) -> None:
    x_ref, n_ref, x_cur, n_cur = counts
    result = share_increase_test(x_ref, n_ref, x_cur, n_cur)
    table = [[x_cur, n_cur - x_cur], [x_ref, n_ref - x_ref]]
    expected = scipy.stats.fisher_exact(table, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-7, abs=1e-12)
    assert result.statistic == pytest.approx(x_cur / n_cur - x_ref / n_ref)


def test_share_increase_test_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="within their sizes"):
        share_increase_test(5, 4, 0, 10)
    with pytest.raises(ValueError, match="non-negative integer counts"):
        share_increase_test(-1, 4, 0, 10)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(30, 20), (200, 50), (10, 300)])
def test_beyond_range_test_matches_the_distribution_of_exchangeable_samples(
    n_ref: int, n_cur: int
) -> None:
    rng = np.random.default_rng(n_ref * 1000 + n_cur)
    pooled = rng.random((20_000, n_ref + n_cur))
    ref, cur = pooled[:, :n_ref], pooled[:, n_ref:]
    low, high = ref.min(axis=1, keepdims=True), ref.max(axis=1, keepdims=True)
    counts = np.count_nonzero((cur < low) | (cur > high), axis=1)
    assert counts.mean() == pytest.approx(2 * n_cur / (n_ref + 1), rel=0.03)
    for k in range(1, 8):
        simulated = float(np.mean(counts >= k))
        exact = beyond_range_test(n_ref, n_cur, k).p_value
        assert exact == pytest.approx(
            simulated, abs=4 * np.sqrt(exact * (1 - exact) / 20_000) + 1e-3
        )


@PROPERTIES
@given(st.integers(2, 5_000), st.integers(1, 5_000), st.data())
def test_beyond_range_test_is_a_p_value_falling_with_the_count(
    n_ref: int, n_cur: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, n_cur))
    p = beyond_range_test(n_ref, n_cur, k).p_value
    assert 0.0 <= p <= 1.0
    if k == 0:
        assert p == 1.0
    if k < n_cur:
        assert beyond_range_test(n_ref, n_cur, k + 1).p_value <= p + 1e-12


@PROPERTIES
@given(st.integers(0, 500), st.integers(1, 500), st.floats(0.0, 1.0))
def test_excess_count_test_is_the_binomial_upper_tail(k: int, n: int, share: float) -> None:
    k = min(k, n)
    expected = scipy.stats.binom.sf(k - 1, n, share) if k > 0 else 1.0
    assert excess_count_test(k, n, share).p_value == pytest.approx(expected, rel=1e-7, abs=1e-12)


def test_constant_chance_is_the_probability_of_one_category_throughout() -> None:
    rng = np.random.default_rng(1)
    shares = np.array([0.9, 0.07, 0.03])
    draws = rng.choice(3, size=(50_000, 20), p=shares)
    simulated = np.mean((draws == draws[:, :1]).all(axis=1))
    assert constant_chance(shares, 20) == pytest.approx(simulated, abs=0.01)
    assert constant_chance([1.0], 5) == 1.0


@PROPERTIES
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_adjust_p_values_is_benjamini_hochberg_as_scipy(p_values: list[float]) -> None:
    adjusted = adjust_p_values(p_values, "bh")
    expected = scipy.stats.false_discovery_control(np.array(p_values), method="bh")
    assert adjusted == pytest.approx(list(expected), rel=1e-9, abs=1e-12)
    assert all(a >= p * (1 - 1e-12) for a, p in zip(adjusted, p_values, strict=True))
    assert adjust_p_values(p_values, "none") == p_values


def test_adjust_p_values_refuses_what_is_not_a_p_value() -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        adjust_p_values([0.1, 1.5], "bh")
    with pytest.raises(ValueError, match="knows 'bh' and 'none'"):
        adjust_p_values([0.1], "holm")  # type: ignore[arg-type]
