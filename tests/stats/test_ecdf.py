import numpy as np
import pytest
from hypothesis import given

from vigil.stats import compare_ecdfs, ks_test, wasserstein_distance
from vigil.stats.ecdf import uses_lookups

from .strategies import PROPERTIES, SHAPES, sample_pair, samples


@PROPERTIES
@given(samples(), samples())
def test_compare_ecdfs_equals_the_two_kernels(reference: np.ndarray, current: np.ndarray) -> None:
    both = compare_ecdfs(reference, current)
    assert both.ks == ks_test(reference, current)
    merged = wasserstein_distance(reference, current)
    if uses_lookups(reference.size, current.size):  # summed in another order
        spread = max(np.ptp(reference), np.ptp(current), 1.0)
        assert both.wasserstein == pytest.approx(merged, rel=1e-9, abs=1e-12 * spread)
    else:
        assert both.wasserstein == merged


@pytest.mark.parametrize("shape", SHAPES)
def test_compare_ecdfs_equals_the_two_kernels_on_large_samples(shape: str) -> None:
    reference, current = sample_pair(shape, 30_000, 20_000, seed=3)
    reference, current = np.sort(reference), np.sort(current)
    both = compare_ecdfs(reference, current, assume_sorted=True)
    assert both.ks == ks_test(reference, current, assume_sorted=True)
    assert both.wasserstein == wasserstein_distance(reference, current, assume_sorted=True)
