"""stats.attribution: NDCG against scikit-learn, the means against numpy, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import ndcg_score as sklearn_ndcg

from vigil.stats.attribution import (
    mean_abs_attribution,
    ndcg_null_band,
    ndcg_score,
    welch_t_test,
)

finite = st.floats(-1e6, 1e6, allow_nan=False)
relevance = st.floats(0, 1e6, allow_nan=False, allow_subnormal=False)  # subnormals: no precision


@given(st.data())
def test_ndcg_equals_scikit_learn_ties_included(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 25))
    rel = data.draw(arrays(np.float64, n, elements=relevance))
    # few distinct scores, so ties are common: scikit-learn averages their gains, as we do
    scores = data.draw(arrays(np.float64, n, elements=st.sampled_from([0.0, 0.5, 1.0, 2.0])))
    k = data.draw(st.integers(1, n + 3))
    expected = sklearn_ndcg([rel], [scores], k=k)
    assert ndcg_score(rel, scores, k=k) == pytest.approx(expected, abs=1e-12)


def test_ndcg_on_a_worked_example() -> None:
    rel = np.array([0.40, 0.25, 0.20, 0.10, 0.05])
    scores = np.array([0.10, 0.30, 0.25, 0.20, 0.01])  # the most important feature fell to 4th
    for k in (1, 3, 5, None):
        assert ndcg_score(rel, scores, k=k) == pytest.approx(sklearn_ndcg([rel], [scores], k=k))


@given(arrays(np.float64, st.integers(1, 30), elements=relevance), st.integers(1, 40))
def test_ranking_in_the_reference_order_gives_one(rel: np.ndarray, k: int) -> None:
    if rel.max() == 0:
        assert ndcg_score(rel, rel, k=k) == 0.0  # nothing relevant: scikit-learn's 0
    else:
        assert ndcg_score(rel, rel, k=k) == pytest.approx(1.0)
        assert ndcg_score(rel, 2 * rel, k=k) == pytest.approx(1.0)  # only the order counts


@given(st.data())
def test_ndcg_ignores_the_order_features_are_listed_in(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 20))
    rel = data.draw(arrays(np.float64, n, elements=relevance))
    scores = data.draw(arrays(np.float64, n, elements=finite))
    perm = np.array(data.draw(st.permutations(range(n))))
    k = data.draw(st.integers(1, n))
    value = ndcg_score(rel, scores, k=k)
    assert ndcg_score(rel[perm], scores[perm], k=k) == pytest.approx(value, abs=1e-12)
    assert 0.0 <= value <= 1.0 + 1e-12


@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 8)), elements=finite))
def test_mean_abs_and_standard_error_equal_numpy(values: np.ndarray) -> None:
    imp = mean_abs_attribution(values)
    np.testing.assert_allclose(imp.mean_abs, np.mean(np.abs(values), axis=0))
    if values.shape[0] > 1:
        expected = np.std(np.abs(values), axis=0, ddof=1) / np.sqrt(values.shape[0])
        np.testing.assert_allclose(imp.standard_error, expected, atol=1e-9)
    assert imp.rows == values.shape[0]


def test_bad_input_is_refused_with_the_numbers() -> None:
    with pytest.raises(ValueError, match="shapes"):
        ndcg_score(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="relevance >= 0"):
        ndcg_score(np.array([-1.0, 2.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        mean_abs_attribution(np.array([[np.nan, 1.0]]))


def test_null_band_is_seeded_and_narrows_with_rows() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5000, 6)) * np.array([1.0, 0.9, 0.8, 0.5, 0.2, 0.1])
    small = ndcg_null_band(values, rows=32, k=6, seed=1)
    assert small == ndcg_null_band(values, rows=32, k=6, seed=1)
    large = ndcg_null_band(values, rows=4096, k=6, seed=1)
    assert large.sd < small.sd
    assert small.mean < large.mean <= 1.0 + 1e-12


@given(
    st.floats(0, 100),
    st.floats(0.01, 10),
    st.integers(2, 5000),
    st.floats(0, 100),
    st.floats(0.01, 10),
    st.integers(2, 5000),
)
def test_welch_t_test_equals_scipy(
    m1: float, se1: float, n1: int, m2: float, se2: float, n2: int
) -> None:
    from scipy import stats

    expected = stats.ttest_ind_from_stats(
        m2, se2 * np.sqrt(n2), n2, m1, se1 * np.sqrt(n1), n1, equal_var=False
    )
    got = welch_t_test(m1, se1, n1, m2, se2, n2)
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
