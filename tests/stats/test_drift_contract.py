"""The contract every drift kernel keeps, checked over one table of all of them.

Like scikit-learn's `test_common.py`: a new kernel joins a table below and inherits the checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import vigil.stats
from vigil.stats import (
    TestResult,
    anderson_darling_test,
    chi2_test,
    cramer_von_mises_test,
    energy_distance,
    hellinger_distance,
    jensen_shannon_distance,
    kl_divergence,
    ks_test,
    psi,
    wasserstein_distance,
)

from .strategies import PROPERTIES, count_pairs, samples

Kernel = Callable[[Any, Any], float | TestResult]

# Kernels comparing two raw samples, with the fewest values each side needs.
SAMPLE_KERNELS: dict[str, tuple[Kernel, int]] = {
    "anderson_darling_test": (anderson_darling_test, 2),
    "cramer_von_mises_test": (cramer_von_mises_test, 2),
    "energy_distance": (energy_distance, 1),
    "ks_test": (ks_test, 1),
    "wasserstein_distance": (wasserstein_distance, 1),
}
# Kernels comparing two aligned count vectors.
COUNT_KERNELS: dict[str, Kernel] = {
    "chi2_test": chi2_test,
    "hellinger_distance": hellinger_distance,
    "jensen_shannon_distance": jensen_shannon_distance,
    "kl_divergence": kl_divergence,
    "psi": psi,
}
# Take counts, not two samples or two vectors; their contracts are in test_proportions.py and
# test_sampling.py (they test one share against another, or against an expected share).
OTHER_DRIFT_KERNELS = {
    "proportions_z_test",
    "share_increase_test",
    "beyond_range_test",
    "excess_count_test",
}
ALL_KERNELS: dict[str, Kernel] = {
    **{name: kernel for name, (kernel, _) in SAMPLE_KERNELS.items()},
    **COUNT_KERNELS,
}

# The p-value of a test of identical inputs is at least this: the largest value the
# Anderson–Darling table reports (the other tests give about 1).
NO_EVIDENCE = 0.25


def is_drift_kernel(name: str) -> bool:
    return name.endswith(("_distance", "_test", "_divergence")) or name == "psi"


def test_every_public_drift_kernel_is_in_a_table() -> None:
    public = {name for name in vigil.stats.__all__ if is_drift_kernel(name)}
    missing = public - set(ALL_KERNELS) - OTHER_DRIFT_KERNELS
    assert not missing, f"add {sorted(missing)} to the tables in {__name__}"


def assert_no_drift(name: str, result: float | TestResult) -> None:
    if isinstance(result, TestResult):
        assert type(result.statistic) is float and type(result.p_value) is float
        assert NO_EVIDENCE <= result.p_value <= 1.0, (name, result)
    else:
        assert type(result) is float
        assert result == 0.0, (name, result)


def assert_type(name: str, result: float | TestResult) -> None:
    expected = TestResult if name.endswith("_test") else float
    assert type(result) is expected, (name, type(result))
    if isinstance(result, TestResult):
        assert type(result.statistic) is float and type(result.p_value) is float
        assert 0.0 <= result.p_value <= 1.0
    else:
        assert result >= 0.0


@pytest.mark.parametrize("name", SAMPLE_KERNELS)
@PROPERTIES
@given(reference=samples(min_size=2), current=samples(min_size=2))
def test_sample_kernels_return_their_type_and_ignore_row_order(
    name: str, reference: np.ndarray, current: np.ndarray
) -> None:
    kernel, _ = SAMPLE_KERNELS[name]
    result = kernel(reference, current)
    assert_type(name, result)
    shuffled = kernel(reference[::-1].copy(), np.roll(current, 1))
    if isinstance(result, TestResult):
        assert isinstance(shuffled, TestResult)
        assert shuffled.statistic == pytest.approx(result.statistic, rel=1e-12, abs=1e-12)
        assert shuffled.p_value == pytest.approx(result.p_value, rel=1e-12, abs=1e-12)
    else:
        assert shuffled == pytest.approx(result, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", SAMPLE_KERNELS)
@PROPERTIES
@given(values=samples(min_size=2))
def test_sample_kernels_find_no_drift_between_a_sample_and_itself(
    name: str, values: np.ndarray
) -> None:
    kernel, _ = SAMPLE_KERNELS[name]
    assert_no_drift(name, kernel(values, values.copy()))


@pytest.mark.parametrize("name", COUNT_KERNELS)
@PROPERTIES
@given(pair=count_pairs())
def test_count_kernels_return_their_type_and_find_no_drift_against_themselves(
    name: str, pair: tuple[np.ndarray, np.ndarray]
) -> None:
    kernel = COUNT_KERNELS[name]
    reference, current = pair
    assert_type(name, kernel(reference, current))
    assert_no_drift(name, kernel(reference, reference.copy()))


@pytest.mark.parametrize("name", SAMPLE_KERNELS)
@pytest.mark.parametrize("side", ["reference", "current"])
@pytest.mark.parametrize("too_few", ["empty", "one short"])
def test_sample_kernels_reject_empty_or_too_small_samples_with_the_sizes(
    name: str, side: str, too_few: str
) -> None:
    kernel, min_size = SAMPLE_KERNELS[name]
    small = np.arange(0.0 if too_few == "empty" else min_size - 1.0)
    enough = np.arange(7.0)
    reference, current = (small, enough) if side == "reference" else (enough, small)
    with pytest.raises(ValueError, match=name) as error:
        kernel(reference, current)
    assert f"got {reference.size} reference and {current.size} current values" in str(error.value)
    assert f"at least {min_size}" in str(error.value)


@pytest.mark.parametrize("name", SAMPLE_KERNELS)
def test_sample_kernels_reject_nan_and_infinity(name: str) -> None:
    kernel, _ = SAMPLE_KERNELS[name]
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="NaN or infinity"):
            kernel(np.array([1.0, 2.0, bad]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("name", COUNT_KERNELS)
def test_count_kernels_reject_counts_of_different_lengths_with_the_shapes(name: str) -> None:
    kernel = COUNT_KERNELS[name]
    with pytest.raises(ValueError, match=name) as error:
        kernel(np.array([1, 2, 3]), np.array([1, 2, 3, 4]))
    assert "got shapes (3,) (reference) and (4,) (current)" in str(error.value)
    assert "same length" in str(error.value)


@pytest.mark.parametrize("name", COUNT_KERNELS)
@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ([0, 0, 0], [1, 2, 3], "got totals 0 (reference) and 6 (current)"),
        ([4, 0], [0, 0], "got totals 4 (reference) and 0 (current)"),
        ([], [], "got 0 counts"),
        ([1, -1, 2], [1, 1, 1], "smallest reference count -1"),
    ],
)
def test_count_kernels_reject_empty_or_negative_counts(
    name: str, reference: list[int], current: list[int], message: str
) -> None:
    kernel = COUNT_KERNELS[name]
    with pytest.raises(ValueError, match=name) as error:
        kernel(np.array(reference, dtype=np.int64), np.array(current, dtype=np.int64))
    assert message in str(error.value)
