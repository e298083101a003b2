"""PCA reconstruction error against scikit-learn, its band against real chunking, and its
invariances (row order, column scale)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import binomtest
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vigil.stats.reconstruction import (
    exceedance_test,
    fit_pca,
    mean_error_band,
    reconstruction_errors,
)


def correlated(rows: int, columns: int, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(columns, columns))
    scales = rng.uniform(0.1, 100.0, size=columns)
    x: NDArray[np.float64] = (rng.normal(size=(rows, columns)) @ mixing) * scales + 5.0
    return x


def sklearn_errors(
    reference: NDArray[np.float64], current: NDArray[np.float64], variance: float
) -> tuple[NDArray[np.float64], int]:
    scaler = StandardScaler().fit(reference)
    pca = PCA(n_components=variance, svd_solver="full").fit(scaler.transform(reference))
    z = scaler.transform(current)
    back = pca.inverse_transform(pca.transform(z))
    return np.linalg.norm(z - back, axis=1), int(pca.n_components_)


@pytest.mark.parametrize("variance", [0.3, 0.65, 0.9, 0.999])
@pytest.mark.parametrize("columns", [2, 5, 12])
def test_errors_match_scikit_learn_scaler_and_pca(variance: float, columns: int) -> None:
    reference = correlated(800, columns, seed=columns)
    current = correlated(300, columns, seed=100 + columns)
    expected, n_components = sklearn_errors(reference, current, variance)
    fit = fit_pca(reference, variance=variance)
    assert fit.components.shape[0] == n_components
    np.testing.assert_allclose(reconstruction_errors(fit, current), expected, rtol=0, atol=1e-9)


def test_a_constant_column_is_scaled_by_one_as_scikit_learn_does() -> None:
    reference = correlated(300, 3, seed=1)
    reference[:, 1] = 7.0
    current = correlated(50, 3, seed=2)
    expected, _ = sklearn_errors(reference, current, 0.65)
    fit = fit_pca(reference, variance=0.65)
    np.testing.assert_allclose(reconstruction_errors(fit, current), expected, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_row_order_does_not_change_the_fit_or_the_errors(seed: int, columns: int) -> None:
    x = correlated(120, columns, seed)
    order = np.random.default_rng(seed).permutation(len(x))
    a = fit_pca(x, variance=0.65)
    b = fit_pca(x[order], variance=0.65)
    np.testing.assert_allclose(
        reconstruction_errors(a, x)[order], reconstruction_errors(b, x[order]), atol=1e-8
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(2, 6),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, 1e3),
)
def test_scaling_or_shifting_a_column_is_absorbed_by_the_scaler(
    seed: int, columns: int, factor: float, shift: float
) -> None:
    x = correlated(150, columns, seed)
    y = x.copy()
    y[:, 0] = y[:, 0] * factor + shift
    before = reconstruction_errors(fit_pca(x, variance=0.65), x)
    after = reconstruction_errors(fit_pca(y, variance=0.65), y)
    np.testing.assert_allclose(before, after, rtol=1e-6, atol=1e-8)


def test_all_the_variance_kept_reconstructs_every_row() -> None:
    x = correlated(100, 4, seed=3)
    assert np.max(reconstruction_errors(fit_pca(x, variance=1.0), x)) < 1e-9


@pytest.mark.parametrize("chunk", [50, 200, 1000])
def test_the_band_from_the_rows_spread_matches_real_reference_chunks(chunk: int) -> None:
    """NannyML cuts the reference into chunks and takes mean ± 3σ of the chunks' means; the
    band from the per-row spread (σ/√m) gives that σ at every size without chunking."""
    rows = 100_000
    reference = correlated(rows, 6, seed=11)[np.random.default_rng(chunk).permutation(rows)]
    errors = reconstruction_errors(fit_pca(reference, variance=0.65), reference)
    chunks = rows // chunk
    means = errors[: chunks * chunk].reshape(chunks, chunk).mean(axis=1)
    mean, lower, upper = mean_error_band(errors, chunk, width=1.0)
    # the chunks' standard deviation is known to about 1/sqrt(2 * chunks): three of those
    assert np.std(means, ddof=1) == pytest.approx(upper - mean, rel=3 / np.sqrt(2 * chunks))
    assert np.mean(means) == pytest.approx(mean, abs=1e-12 + (upper - mean) / np.sqrt(chunks))
    assert mean - lower == pytest.approx(upper - mean)


def exchangeable_tail(k: int, m: int, r: int, n: int) -> float:
    """P(at least k of m new values exceed the (r + 1)-th largest of n reference values), all
    n + m exchangeable and distinct: count the arrangements of the ranks."""
    total = comb(n + m, m)
    return sum(comb(r + x, x) * comb(n - r - 1 + m - x, m - x) for x in range(k, m + 1)) / total


@pytest.mark.parametrize(
    ("k", "m", "r", "n"),
    [(0, 100, 0, 1000), (3, 50, 0, 200), (5, 1000, 10, 10_000), (9, 899, 0, 898)],
)
def test_exceedance_test_is_the_exact_rank_count(k: int, m: int, r: int, n: int) -> None:
    found = exceedance_test(k, m, reference_above=r, reference_rows=n)
    assert found == pytest.approx(exchangeable_tail(k, m, r, n), rel=1e-9)


def test_exceedance_test_is_wider_than_the_binomial_at_the_same_share() -> None:
    # 5 of 1,000 new rows above a threshold 10 of 10,000 reference rows exceed
    wide = exceedance_test(5, 1000, reference_above=10, reference_rows=10_000)
    assert wide > binomtest(5, 1000, 11 / 10_001, alternative="greater").pvalue


def test_bad_input_says_what_was_received() -> None:
    with pytest.raises(ValueError, match="shape"):
        fit_pca(np.zeros(5), variance=0.5)
    with pytest.raises(ValueError, match="variance"):
        fit_pca(np.zeros((5, 2)), variance=0)
    with pytest.raises(ValueError, match="finite"):
        fit_pca(np.array([[1.0, np.nan], [2.0, 3.0]]), variance=0.5)
    fit = fit_pca(correlated(10, 3, 0), variance=0.5)
    with pytest.raises(ValueError, match="3 columns"):
        reconstruction_errors(fit, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="reference_above"):
        exceedance_test(1, 10, reference_above=5, reference_rows=5)
