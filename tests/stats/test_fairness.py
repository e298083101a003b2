"""The rate-gap kernels: fairlearn's numbers, invariances, and their noise against simulation."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.stats import rate_difference, rate_ratio


@st.composite
def group_counts(draw: st.DrawFn, min_groups: int = 2) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(min_groups, 8))
    totals = np.array(draw(st.lists(st.integers(1, 500), min_size=k, max_size=k)))
    successes = np.array([draw(st.integers(0, int(n))) for n in totals])
    return successes, totals


def rows_of(successes: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-level predictions and groups with these counts (for fairlearn)."""
    groups = np.repeat(np.arange(totals.size), totals)
    selected = np.concatenate([np.arange(n) < s for s, n in zip(successes, totals, strict=True)])
    return selected.astype(int), groups


@settings(deadline=None, max_examples=60)  # fairlearn builds a pandas frame per call
@given(group_counts())
def test_difference_and_ratio_are_fairlearns(counts: tuple[np.ndarray, np.ndarray]) -> None:
    successes, totals = counts
    y_pred, groups = rows_of(successes, totals)
    y_true = np.zeros_like(y_pred)  # demographic parity reads predictions only
    assert rate_difference(successes, totals).value == pytest.approx(
        demographic_parity_difference(y_true, y_pred, sensitive_features=groups), abs=1e-12
    )
    expected_ratio = demographic_parity_ratio(y_true, y_pred, sensitive_features=groups)
    if successes.sum() == 0:  # fairlearn: 0/0 is nan; here equal rates read as 1
        assert rate_ratio(successes, totals).value == 1.0
    else:
        assert rate_ratio(successes, totals).value == pytest.approx(expected_ratio, abs=1e-12)


@given(group_counts(), st.data())
def test_relabelling_the_groups_changes_nothing(
    counts: tuple[np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    successes, totals = counts
    order = np.array(data.draw(st.permutations(range(successes.size))))
    for kernel in (rate_difference, rate_ratio):
        a, b = kernel(successes, totals), kernel(successes[order], totals[order])
        assert a.value == pytest.approx(b.value, abs=1e-15)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-12)


@given(group_counts())
def test_bounds(counts: tuple[np.ndarray, np.ndarray]) -> None:
    successes, totals = counts
    d, r = rate_difference(successes, totals), rate_ratio(successes, totals)
    assert 0.0 <= d.value <= 1.0 and 0.0 <= r.value <= 1.0
    assert 0.0 <= d.p_value <= 1.0 and d.standard_error >= 0.0 and r.standard_error >= 0.0
    rates = successes / totals
    assert rates[d.low] == rates.min() and rates[d.high] == rates.max()


@given(st.integers(2, 8), st.integers(1, 300), st.integers(0, 10))
def test_equal_rates_give_no_gap(k: int, n: int, numerator: int) -> None:
    successes = np.full(k, min(numerator, n))
    totals = np.full(k, n)
    assert rate_difference(successes, totals).value == 0.0
    assert rate_ratio(successes, totals).value == 1.0
    assert rate_difference(successes, totals).p_value == 1.0


def test_a_group_without_rows_is_refused_with_the_counts() -> None:
    with pytest.raises(ValueError, match=r"totals \[10, 0\]"):
        rate_difference(np.array([1, 0]), np.array([10, 0]))
    with pytest.raises(ValueError, match="at least 2 groups"):
        rate_ratio(np.array([1]), np.array([10]))


@pytest.mark.parametrize(("p", "n"), [((0.3, 0.6), (200, 80)), ((0.5, 0.75), (60, 400))])
def test_standard_errors_match_a_simulation(p: tuple[float, float], n: tuple[int, int]) -> None:
    """The plug-in standard errors at the observed rates agree with the spread of the
    difference and the ratio over 20,000 simulated sets (gap large enough that the same pair
    attains it every time)."""
    rng = np.random.default_rng(11)
    draws = np.column_stack([rng.binomial(n[i], p[i], 20_000) for i in range(2)])
    totals = np.array(n)
    diffs = draws[:, 1] / n[1] - draws[:, 0] / n[0]
    ratios = (draws[:, 0] / n[0]) / (draws[:, 1] / n[1])
    expected = np.array([p[0] * n[0], p[1] * n[1]]).round().astype(int)
    assert rate_difference(expected, totals).standard_error == pytest.approx(diffs.std(), rel=0.05)
    assert rate_ratio(expected, totals).standard_error == pytest.approx(ratios.std(), rel=0.08)


@pytest.mark.parametrize(("k", "n", "p"), [(2, 30, 0.5), (5, 40, 0.2), (8, 60, 0.1)])
def test_p_value_of_equal_rates_keeps_its_level(k: int, n: int, p: float) -> None:
    """Equal rates in every group: the adjusted p-value of the attaining pair falls below 0.05
    in at most 5% of 4,000 simulated sets, give or take three Monte-Carlo standard errors
    (0.0034): Bonferroni over the pairs keeps it valid although the pair is chosen for its gap
    (its own unadjusted p-value would not); at two groups of 30 the z-test's normal
    approximation is itself a little liberal (5.7% here), which docs/statistics.md says."""
    rng = np.random.default_rng(k * 100 + n)
    totals = np.full(k, n)
    p_values = np.array(
        [rate_difference(rng.binomial(n, p, k), totals).p_value for _ in range(4000)]
    )
    assert (p_values < 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)
