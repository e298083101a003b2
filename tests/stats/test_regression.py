import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from vigil.stats.regression import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_error,
    r2_score,
    root_mean_squared_error,
)

from .strategies import PROPERTIES

METRICS = (
    mean_absolute_error,
    root_mean_squared_error,
    mean_absolute_percentage_error,
    r2_score,
    mean_error,
)
SKLEARN = {
    mean_absolute_error: skm.mean_absolute_error,
    root_mean_squared_error: skm.root_mean_squared_error,
    mean_absolute_percentage_error: skm.mean_absolute_percentage_error,
    r2_score: skm.r2_score,
    mean_error: lambda y, yp: float(np.mean(yp - y)),  # no scikit-learn counterpart
}


def close(value: float, expected: float, tol: float = 1e-9) -> bool:
    """Within `tol`, absolute below 1 and relative above."""
    return abs(value - expected) <= tol * max(1.0, abs(expected))


def regression_data(n: int, *, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "integers":  # ties, zeros among the true values
        y = rng.integers(-3, 4, n).astype(np.float64)
        return y, y + rng.integers(-1, 2, n)
    if kind == "skewed":
        y = rng.lognormal(3.0, 1.0, n)
        return y, y * rng.normal(1.1, 0.2, n)
    y = rng.normal(10.0, 5.0, n)
    return y, y + rng.normal(0.3, 2.0, n)


@pytest.mark.parametrize("kind", ["normal", "skewed", "integers"])
@pytest.mark.parametrize(("n", "seed"), [(2, 0), (3, 1), (5, 2), (1000, 3), (100_000, 4)])
def test_regression_metrics_match_sklearn(n: int, seed: int, kind: str) -> None:
    y, yp = regression_data(n, seed=seed, kind=kind)
    for metric in METRICS:
        expected = SKLEARN[metric](y, yp)
        assert close(metric(y, yp), expected), metric.__name__


@pytest.mark.parametrize(
    ("y", "yp"),
    [
        ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]),  # constant and exact: 1
        ([2.0, 2.0, 2.0], [2.0, 3.0, 2.0]),  # constant, one miss: 0
        ([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]),  # a constant whose mean is not exact in binary
        ([7.0] * 1000, list(np.linspace(6, 8, 1000))),
    ],
)
def test_r2_of_a_constant_target_matches_sklearn(y: list[float], yp: list[float]) -> None:
    true, pred = np.array(y), np.array(yp)
    assert r2_score(true, pred) == skm.r2_score(true, pred)


def test_mape_divides_by_epsilon_at_zero_like_sklearn() -> None:
    y, yp = np.array([0.0, 1.0, -2.0]), np.array([1e-3, 1.5, -2.0])
    assert mean_absolute_percentage_error(y, yp) == skm.mean_absolute_percentage_error(y, yp)
    assert mean_absolute_percentage_error(y, yp) > 1e12


# --- properties -------------------------------------------------------------------------------

_value = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), st.integers(-3, 3).map(float)
)


@st.composite
def pairs(draw: st.DrawFn, min_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_size, 40))
    return draw(arrays(np.float64, n, elements=_value)), draw(
        arrays(np.float64, n, elements=_value)
    )


@PROPERTIES
@given(pairs(min_size=2), st.integers(0, 2**32 - 1))
def test_regression_metrics_ignore_row_order(
    pair: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    y, yp = pair
    order = np.random.default_rng(seed).permutation(y.size)
    for metric in METRICS:
        before, after = metric(y, yp), metric(y[order], yp[order])
        assert after == pytest.approx(before, rel=1e-9, abs=1e-9), metric.__name__


@PROPERTIES
@given(pairs(min_size=2))
def test_perfect_predictions(pair: tuple[np.ndarray, np.ndarray]) -> None:
    y, _ = pair
    assert mean_absolute_error(y, y) == 0.0
    assert root_mean_squared_error(y, y) == 0.0
    assert mean_absolute_percentage_error(y, y) == 0.0
    assert mean_error(y, y) == 0.0
    assert r2_score(y, y) == 1.0


@PROPERTIES
@given(pairs(min_size=2))
def test_regression_metrics_stay_in_bounds(pair: tuple[np.ndarray, np.ndarray]) -> None:
    y, yp = pair
    mae, rmse = mean_absolute_error(y, yp), root_mean_squared_error(y, yp)
    assert 0.0 <= mae <= rmse * (1 + 1e-12) + 1e-12  # the quadratic mean bounds the mean
    assert mean_absolute_percentage_error(y, yp) >= 0.0
    assert r2_score(y, yp) <= 1.0
    assert abs(mean_error(y, yp)) <= mae * (1 + 1e-12) + 1e-12


@PROPERTIES
@given(pairs(), st.floats(-100.0, 100.0))
def test_mean_error_is_the_bias_of_a_shift(
    pair: tuple[np.ndarray, np.ndarray], shift: float
) -> None:
    y, _ = pair
    assert mean_error(y, y + shift) == pytest.approx(shift, abs=1e-9)
    assert mean_absolute_error(y, y + shift) == pytest.approx(abs(shift), abs=1e-9)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_lengths_that_differ_are_named(metric) -> None:
    with pytest.raises(ValueError, match="y_true has 10 rows and y_pred 9; pass one"):
        metric(np.zeros(10), np.zeros(9))


@pytest.mark.parametrize("metric", METRICS)
def test_empty_input_is_rejected(metric) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        metric(np.array([]), np.array([]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("metric", METRICS)
def test_non_finite_values_are_rejected(metric, bad: float) -> None:
    y = np.arange(5.0)
    with pytest.raises(ValueError, match="y_pred must be finite; got 1 NaN or infinite of 5"):
        metric(y, np.where(y == 2, bad, y))
    with pytest.raises(ValueError, match="y_true must be finite; got 2 NaN or infinite of 5"):
        metric(np.where(y > 2, bad, y), y)


def test_r2_needs_two_rows() -> None:
    with pytest.raises(ValueError, match="at least 2 rows; got 1"):
        r2_score(np.array([1.0]), np.array([1.0]))
    with warnings.catch_warnings():  # scikit-learn: NaN with a warning
        warnings.simplefilter("ignore")
        assert np.isnan(skm.r2_score([1.0], [1.0]))


def test_two_dimensional_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"1-D .* got shapes \(2, 2\) and \(2, 2\)"):
        mean_error(np.ones((2, 2)), np.ones((2, 2)))
