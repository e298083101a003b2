import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import bin_counts, quantile_edges, quantiles_of_sorted

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

levels = arrays(np.float64, st.integers(0, 12), elements=st.floats(0.0, 1.0))


@PROPERTIES
@given(samples(max_size=200), levels)
def test_quantiles_of_sorted_equal_numpy_bit_for_bit(values: np.ndarray, qs: np.ndarray) -> None:
    np.testing.assert_array_equal(quantiles_of_sorted(np.sort(values), qs), np.quantile(values, qs))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [1, 2, 7, 10, 1_001, 50_000])
@pytest.mark.parametrize("n_bins", [2, 4, 10, 20])
def test_quantile_edges_are_the_deduplicated_numpy_quantiles(
    shape: str, n: int, n_bins: int
) -> None:
    reference, _ = sample_pair(shape, n, 1)
    expected = np.unique(np.quantile(reference, np.arange(1, n_bins) / n_bins))
    np.testing.assert_array_equal(quantile_edges(np.sort(reference), n_bins), expected)


def test_quantile_edges_default_to_deciles() -> None:
    reference = np.arange(0.0, 101.0)
    np.testing.assert_allclose(quantile_edges(reference), np.arange(10.0, 100.0, 10.0))


def test_quantile_edges_give_fewer_bins_for_tied_values() -> None:
    assert quantile_edges(np.array([2.0] * 50)).tolist() == [2.0]
    # Deciles 0.1 … 0.8 are all 0; the 0.9 decile interpolates between the last 0 and the first 1.
    assert quantile_edges(np.array([0.0] * 90 + [1.0] * 10)).tolist() == pytest.approx([0.0, 0.1])


def test_quantile_edges_reject_an_empty_reference_and_too_few_bins() -> None:
    with pytest.raises(ValueError, match=r"non-empty 1-D reference sample; got shape \(0,\)"):
        quantile_edges(np.array([]))
    with pytest.raises(ValueError, match=r"n_bins >= 2.*got 1"):
        quantile_edges(np.array([1.0, 2.0]), n_bins=1)


def test_quantiles_of_sorted_rejects_levels_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"quantiles in \[0, 1\]"):
        quantiles_of_sorted(np.array([1.0, 2.0]), np.array([0.5, 1.5]))


def test_bin_counts_use_right_closed_bins_with_open_outer_bins() -> None:
    values = np.array([-100.0, 1.0, 1.0 + 1e-9, 2.0, 3.0, 100.0])
    edges = np.array([1.0, 2.0, 3.0])
    # (-inf, 1] (1, 2] (2, 3] (3, inf)
    assert bin_counts(values, edges).tolist() == [2, 2, 1, 1]
    assert bin_counts(values, edges, assume_sorted=True).tolist() == [2, 2, 1, 1]
    assert bin_counts(values, edges).dtype == np.int64


@PROPERTIES
@given(samples(max_size=200), samples(max_size=60), st.integers(2, 12))
def test_bin_counts_sorted_and_unsorted_paths_agree(
    reference: np.ndarray, values: np.ndarray, n_bins: int
) -> None:
    edges = quantile_edges(np.sort(reference), n_bins)
    unsorted = bin_counts(values, edges)
    np.testing.assert_array_equal(bin_counts(np.sort(values), edges, assume_sorted=True), unsorted)
    assert unsorted.size == edges.size + 1
    assert unsorted.sum() == values.size


def test_bin_counts_of_the_reference_on_its_deciles_are_even() -> None:
    reference = np.sort(np.random.default_rng(2).normal(size=10_000))
    counts = bin_counts(reference, quantile_edges(reference), assume_sorted=True)
    assert counts.tolist() == [1_000] * 10


def test_bin_counts_of_an_empty_sample_are_zero() -> None:
    assert bin_counts(np.array([]), np.array([0.0])).tolist() == [0, 0]


@pytest.mark.parametrize("edges", [np.array([2.0, 1.0]), np.array([1.0, 1.0]), np.array([np.nan])])
def test_bin_counts_reject_edges_that_are_not_strictly_increasing(edges: np.ndarray) -> None:
    with pytest.raises(ValueError, match="strictly increasing inner edges"):
        bin_counts(np.array([1.0]), edges)
