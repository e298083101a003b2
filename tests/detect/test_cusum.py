"""CUSUM against a plain re-statement of Page's tabular recursion, and its properties."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from vigil.detect import Cusum, CusumParams


def reference_cusum(x: list[float], mean: float, sigma: float, k: float, h: float) -> list[int]:
    """Montgomery §9.1, written out independently: C⁺ and C⁻ on the raw scale, K = kσ, H = hσ."""
    big_k, big_h = k * sigma, h * sigma
    c_plus = c_minus = 0.0
    alarms = []
    for i, value in enumerate(x):
        c_plus = max(0.0, value - (mean + big_k) + c_plus)
        c_minus = max(0.0, (mean - big_k) - value + c_minus)
        if c_plus > big_h or c_minus > big_h:
            alarms.append(i)
            c_plus = c_minus = 0.0
    return alarms


def alarms(x: list[float], params: CusumParams) -> list[int]:
    detector = Cusum(params)
    return [i for i, value in enumerate(x) if detector.update(value)]


finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(
    st.lists(finite, max_size=300),
    st.floats(-10, 10),
    st.floats(0.1, 10),
    st.floats(0, 2),
    st.floats(0.5, 20),
)
def test_cusum_matches_the_tabular_recursion(
    x: list[float], mean: float, sigma: float, k: float, h: float
) -> None:
    got = alarms(x, CusumParams(mean=mean, sigma=sigma, k=k, h=h))
    expected = reference_cusum(x, mean, sigma, k, h)
    # the standardised and raw-scale forms can round differently exactly at the boundary
    assert len(got) == pytest.approx(len(expected), abs=1)
    if len(got) == len(expected):
        assert got == expected


def test_cusum_matches_the_recursion_on_a_seeded_shifted_stream() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(3, 2, 4000), rng.normal(4, 2, 4000)]).tolist()
    params = CusumParams(mean=3.0, sigma=2.0, k=0.5, h=5.0)
    got = alarms(x, params)
    assert got == reference_cusum(x, 3.0, 2.0, 0.5, 5.0)
    assert len([i for i in got if i >= 4000]) > len([i for i in got if i < 4000])


@given(st.lists(finite, min_size=1, max_size=200), st.floats(-5, 5), st.floats(0.1, 5))
def test_cusum_is_invariant_to_location_and_scale(x: list[float], a: float, b: float) -> None:
    params = CusumParams(mean=1.0, sigma=2.0, k=0.5, h=4.0)
    moved = CusumParams(mean=a + b * 1.0, sigma=b * 2.0, k=0.5, h=4.0)
    assert len(alarms(x, params)) == pytest.approx(
        len(alarms([a + b * v for v in x], moved)), abs=1
    )


@given(st.lists(finite, max_size=200))
def test_cusum_sums_stay_non_negative_and_below_h(x: list[float]) -> None:
    detector = Cusum(CusumParams(mean=0.0, sigma=1.0, k=0.5, h=3.0))
    for value in x:
        detector.update(value)
        assert 0.0 <= detector.upper <= 3.0
        assert 0.0 <= detector.lower <= 3.0


@given(st.lists(finite, max_size=200))
def test_cusum_is_symmetric(x: list[float]) -> None:
    params = CusumParams(mean=0.0, sigma=1.0, k=0.5, h=3.0)
    assert alarms(x, params) == alarms([-v for v in x], params)


def test_a_constant_stream_at_the_mean_never_alarms() -> None:
    assert alarms([7.0] * 10_000, CusumParams(mean=7.0, sigma=1.0)) == []


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("sigma", {"sigma": 0.0}),
        ("sigma", {"sigma": -1.0}),
        ("mean", {"mean": math.nan}),
        ("h", {"h": math.inf}),
        ("k", {"k": -0.5}),
    ],
)
def test_bad_parameters_are_refused_with_their_name(field: str, kwargs: dict[str, float]) -> None:
    values = {"mean": 0.0, "sigma": 1.0, **kwargs}
    with pytest.raises(ValueError, match=field):
        CusumParams(**values)
