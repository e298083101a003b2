"""A window looked up in a kept reference: KS bit for bit scipy's, Wasserstein within 1e-9."""

import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import SortedSample, compare_ecdfs, ks_test, wasserstein_distance
from vigil.stats._cdf import compare_by_lookup, pooled_cdf_difference
from vigil.stats.ecdf import uses_lookups
from vigil.stats.ks import statistic_of_difference

from .strategies import PROPERTIES, SHAPES, sample_pair, samples

# Offsets and scales that stress the prefix integral: values far from 0, tiny and huge spreads.
_placed = st.tuples(
    st.sampled_from([0.0, 1.0, 1e6, -1e9, 1e12]), st.sampled_from([1e-6, 1.0, 1e3, 1e8])
)
# Heavy duplicates: a handful of values repeated many times.
_duplicates = arrays(
    np.float64, st.integers(1, 300), elements=st.sampled_from([-2.0, 0.0, 0.5, 7.0])
)


def _scipy_ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's D as it computes it for large samples (its exact method rounds D to a multiple
    of 1/lcm(n, m) first)."""
    with warnings.catch_warnings():  # scipy's p-value of tiny samples warns; not compared here
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy.stats.ks_2samp(reference, current, method="asymp").statistic)


def _scipy_wasserstein_within(value: float, reference: np.ndarray, current: np.ndarray) -> None:
    expected = scipy.stats.wasserstein_distance(reference, current)
    spread = max(np.ptp(reference), np.ptp(current), abs(reference[0] - current[0]))
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-12 * spread)


@PROPERTIES
@given(st.one_of(samples(), _duplicates), st.one_of(samples(), _duplicates))
def test_lookups_give_scipys_ks_statistic_bit_for_bit(
    reference: np.ndarray, current: np.ndarray
) -> None:
    ref, cur = np.sort(reference), np.sort(current)
    statistic, _ = compare_by_lookup(SortedSample(ref), cur)
    assert statistic == _scipy_ks_statistic(ref, cur)
    # and the merge's, which samples of similar sizes use
    assert statistic == statistic_of_difference(*pooled_cdf_difference(ref, cur))


@PROPERTIES
@given(st.one_of(samples(), _duplicates), st.one_of(samples(), _duplicates), _placed)
def test_lookups_give_scipys_wasserstein_distance(
    reference: np.ndarray, current: np.ndarray, placed: tuple[float, float]
) -> None:
    offset, scale = placed
    ref, cur = np.sort(reference * scale + offset), np.sort(current * scale + offset)
    _, distance = compare_by_lookup(SortedSample(ref), cur)
    _scipy_wasserstein_within(distance, ref, cur)
    assert distance >= -1e-12 * max(np.ptp(ref), np.ptp(cur), 1.0)


@PROPERTIES
@given(st.integers(1, 50), st.integers(1, 50), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_lookups_of_constant_samples(n: int, m: int, a: float, b: float) -> None:
    ref, cur = np.full(n, a), np.full(m, b)
    statistic, distance = compare_by_lookup(SortedSample(ref), cur)
    assert statistic == (0.0 if a == b else 1.0)
    assert distance == pytest.approx(abs(a - b), rel=1e-12)


def test_lookups_of_a_single_value_on_either_side() -> None:
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    for current in (np.array([1.0]), np.array([-5.0]), np.array([9.0])):
        statistic, distance = compare_by_lookup(SortedSample(ref), current)
        assert statistic == _scipy_ks_statistic(ref, current)
        _scipy_wasserstein_within(distance, ref, current)
        statistic, distance = compare_by_lookup(SortedSample(current), ref)
        assert statistic == _scipy_ks_statistic(current, ref)
        _scipy_wasserstein_within(distance, current, ref)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("offset", [0.0, 1e7])
def test_a_window_against_a_large_reference_is_looked_up_and_matches_scipy(
    shape: str, offset: float
) -> None:
    reference, current = sample_pair(shape, 300_000, 500, seed=5)
    reference, current = np.sort(reference + offset), np.sort(current + offset)
    assert uses_lookups(reference.size, current.size)
    kept = SortedSample(reference)
    both = compare_ecdfs(kept, current, assume_sorted=True)
    expected = scipy.stats.ks_2samp(reference, current, method="asymp")
    assert both.ks.statistic == expected.statistic
    assert both.ks == ks_test(reference, current, assume_sorted=True)  # the merge's test
    _scipy_wasserstein_within(both.wasserstein, reference, current)
    merged = wasserstein_distance(reference, current, assume_sorted=True)
    assert both.wasserstein == pytest.approx(merged, rel=1e-12)
    # a kept reference and a fresh array take the same path: the same numbers, bit for bit
    assert compare_ecdfs(reference, current, assume_sorted=True) == both
    assert compare_ecdfs(kept, current, assume_sorted=True) == both  # kept pieces reread


def test_samples_of_similar_sizes_are_merged() -> None:
    assert not uses_lookups(1_000_000, 1_000_000)
    assert not uses_lookups(1_000_000, 50_000)
    assert uses_lookups(1_000_000, 500)
    assert uses_lookups(20_000, 500)
    assert not uses_lookups(1, 1)


@PROPERTIES
@given(st.one_of(samples(), _duplicates))
def test_sorted_sample_summaries_are_numpys(values: np.ndarray) -> None:
    ordered = np.sort(values)
    sample = SortedSample(ordered)
    assert sample.mean == float(ordered.mean())
    assert sample.std == (float(np.std(ordered, ddof=1)) if ordered.size > 1 else 0.0)
    _, counts = np.unique(ordered, return_counts=True)
    assert sample.run_shares.tolist() == (counts / ordered.size).tolist()
    # prefix[j] = ∫ from the smallest value to values[j] of count(values ≤ t) dt
    naive = [float(np.sum(ordered[j] - ordered[: j + 1])) for j in range(ordered.size)]
    assert sample.prefix == pytest.approx(naive, rel=1e-12, abs=1e-9)
    assert not sample.prefix.flags.writeable
    assert not sample.run_shares.flags.writeable


def test_the_blocked_prefix_of_a_million_values_is_accurate() -> None:
    values = np.sort(np.random.default_rng(8).normal(1e6, 1.0, 1_000_000))
    prefix = SortedSample(values).prefix
    # the last entry is the sum of every value's distance to the largest
    exact = float(np.sum(values[-1] - values))
    assert prefix[-1] == pytest.approx(exact, rel=1e-12)


@PROPERTIES
@given(
    arrays(np.float64, st.integers(1_024, 3_000), elements=st.integers(-40, 40).map(float)),
    arrays(np.float64, st.integers(1, 60), elements=st.integers(-45, 45).map(float)),
)
def test_counting_through_the_index_is_searchsorted(values: np.ndarray, keys: np.ndarray) -> None:
    ordered, keys = np.sort(values), np.sort(keys)
    counted = SortedSample(ordered).count_at_or_below(keys)
    assert counted.tolist() == np.searchsorted(ordered, keys, side="right").tolist()


@PROPERTIES
@given(
    st.integers(1_024, 40_000),
    st.sampled_from([0, 1, 3]),  # decimals kept: 0 makes long runs of ties
    arrays(np.float64, st.integers(1, 80), elements=st.floats(-6.0, 6.0)),
    st.integers(0, 2**32 - 1),
)
def test_both_counts_through_the_three_levels_are_searchsorted(
    size: int, decimals: int, extra_keys: np.ndarray, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ordered = np.sort(np.round(rng.normal(size=size), decimals))
    # keys the sample holds (first and last of runs, the ends), beyond both ends, and any
    # others, in no order
    held = ordered[rng.integers(0, size, 40)]
    keys = np.concatenate(
        (held, extra_keys, ordered[:20], ordered[-20:], [ordered[0] - 1, ordered[-1] + 1])
    )
    rng.shuffle(keys)
    sample = SortedSample(ordered)
    assert (
        sample.count_at_or_below(keys).tolist() == np.searchsorted(ordered, keys, "right").tolist()
    )
    assert sample.count_below(keys).tolist() == np.searchsorted(ordered, keys, "left").tolist()


def test_counts_of_a_constant_large_sample() -> None:
    sample = SortedSample(np.full(5_000, 2.5))
    keys = np.array([2.0, 2.5, 3.0])
    assert sample.count_at_or_below(keys).tolist() == [0, 5_000, 5_000]
    assert sample.count_below(keys).tolist() == [0, 0, 5_000]
