import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from vigil.stats import TestResult, proportions_z_test

from .strategies import PROPERTIES


@st.composite
def two_proportions(draw: st.DrawFn) -> tuple[int, int, int, int]:
    n_ref = draw(st.integers(1, 100_000))
    n_cur = draw(st.integers(1, 100_000))
    return draw(st.integers(0, n_ref)), n_ref, draw(st.integers(0, n_cur)), n_cur


@PROPERTIES
@given(two_proportions())
def test_proportions_z_test_squared_is_the_uncorrected_chi2_test(
    counts: tuple[int, int, int, int],
) -> None:
    x_ref, n_ref, x_cur, n_cur = counts
    result = proportions_z_test(x_ref, n_ref, x_cur, n_cur)
    if x_ref + x_cur in (0, n_ref + n_cur):
        assert result == TestResult(0.0, 1.0)
        return
    table = np.array([[x_ref, n_ref - x_ref], [x_cur, n_cur - x_cur]])
    expected = scipy.stats.chi2_contingency(table, correction=False)
    assert result.statistic**2 == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)
    assert 0.0 <= result.p_value <= 1.0


def test_proportions_z_test_sign_is_current_minus_reference() -> None:
    assert proportions_z_test(10, 100, 30, 100).statistic > 0
    assert proportions_z_test(30, 100, 10, 100).statistic < 0


@PROPERTIES
@given(st.integers(1, 1_000), st.integers(1, 50))
def test_proportions_z_test_of_equal_shares_finds_nothing(n: int, multiple: int) -> None:
    successes = n // 3
    assert proportions_z_test(successes, n, successes * multiple, n * multiple) == TestResult(
        0.0, 1.0
    )


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((5, 0, 1, 10), "got 5 of 0 (reference) and 1 of 10 (current)"),
        ((11, 10, 1, 10), "got 11 of 10 (reference)"),
        ((1, 10, -1, 10), "got 1 of 10 (reference) and -1 of 10 (current)"),
    ],
)
def test_proportions_z_test_rejects_impossible_counts(
    counts: tuple[int, int, int, int], message: str
) -> None:
    with pytest.raises(ValueError, match="0 <= successes <= n") as error:
        proportions_z_test(*counts)
    assert message in str(error.value)


def test_proportions_z_test_rejects_fractional_counts() -> None:
    with pytest.raises(ValueError, match=r"integer counts.*2.5"):
        proportions_z_test(2.5, 10, 1, 10)  # type: ignore[arg-type]


def test_proportions_z_test_accepts_numpy_integers() -> None:
    assert proportions_z_test(np.int64(1), np.int64(4), 1, 4) == TestResult(0.0, 1.0)  # type: ignore[arg-type]
