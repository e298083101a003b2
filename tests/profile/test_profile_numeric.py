import math
from functools import reduce

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from profile_strategies import PROPERTIES, SHAPES, samples

from vigil.profile import (
    QUANTILE_LEVELS,
    NumericProfile,
    merge_numeric,
    numeric_profile,
    reference_numeric_profile,
    sketch_quantiles,
    sketch_rank_error,
)
from vigil.profile.quantiles import sketch_count
from vigil.stats import bin_counts, jensen_shannon_distance, psi, quantile_edges


def brute_force_offsets(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per bin, Σ (right edge − x), and Σ (x − last edge) for the open last bin."""
    sums = np.zeros(edges.size + 1)
    for x in values:
        j = int(np.searchsorted(edges, x, side="left"))
        sums[j] += edges[j] - x if j < edges.size else x - edges[-1]
    return sums


def assert_close_to_scale(a: float, b: float, values: np.ndarray, rel: float) -> None:
    """a ≈ b relative to the sample's magnitude (a mean near 0 has no relative precision)."""
    scale = float(np.max(np.abs(values))) if values.size else 1.0
    assert abs(a - b) <= rel * max(scale, abs(b), 1e-300), (a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [1, 2, 7, 1_000, 50_000])
def test_a_reference_profile_gives_the_numbers_of_the_raw_data(shape: str, n: int) -> None:
    values = np.sort(SHAPES[shape](np.random.default_rng(n), n))
    profile = reference_numeric_profile(values, missing=3, infinite=2)
    assert (profile.count, profile.missing, profile.infinite) == (n, 3, 2)
    assert (profile.min, profile.max) == (values[0], values[-1])
    assert profile.mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-300)
    if n >= 2:
        assert profile.variance == pytest.approx(np.var(values, ddof=1), rel=1e-12)
        assert profile.std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    else:
        assert math.isnan(profile.variance) and math.isnan(profile.std)
    np.testing.assert_array_equal(profile.edges, quantile_edges(values, 10))
    np.testing.assert_array_equal(profile.fine_edges, quantile_edges(values, 1000))
    np.testing.assert_array_equal(profile.counts, bin_counts(values, profile.edges))
    np.testing.assert_array_equal(profile.fine_counts, bin_counts(values, profile.fine_edges))
    if n <= 2_000:
        expected = brute_force_offsets(values, profile.fine_edges)
        np.testing.assert_allclose(profile.fine_offsets, expected, rtol=1e-9, atol=1e-12)
    levels = list(QUANTILE_LEVELS.values())
    assert list(profile.quantiles.values()) == np.quantile(values, levels).tolist()
    assert sketch_count(profile.sketch) == n


def test_the_reference_may_ask_for_other_bins_than_deciles() -> None:
    values = np.arange(1.0, 101.0)
    profile = reference_numeric_profile(values, missing=0, infinite=0, n_bins=4)
    np.testing.assert_array_equal(profile.edges, quantile_edges(values, 4))
    assert profile.counts.tolist() == [25, 25, 25, 25]
    with pytest.raises(ValueError, match=r"n_bins >= 2"):
        reference_numeric_profile(values, missing=0, infinite=0, n_bins=1)


def test_fine_offsets_are_the_distances_to_the_bin_edges() -> None:
    values = np.sort(np.random.default_rng(3).lognormal(size=5_000))
    profile = reference_numeric_profile(values, missing=0, infinite=0)
    expected = brute_force_offsets(values, profile.fine_edges)
    np.testing.assert_allclose(profile.fine_offsets, expected, rtol=1e-9, atol=1e-12)
    # Integer data: every value of an inner bin sits on its right edge.
    counts = np.sort(np.random.default_rng(3).poisson(3.0, 5_000).astype(np.float64))
    tied = reference_numeric_profile(counts, missing=0, infinite=0)
    assert np.all(tied.fine_offsets[:-1] == 0.0)


def test_a_current_profile_uses_the_reference_edges() -> None:
    rng = np.random.default_rng(0)
    reference = reference_numeric_profile(np.sort(rng.normal(size=1_000)), missing=0, infinite=0)
    values = rng.normal(3.0, 1.0, 500)
    current = numeric_profile(values, missing=4, infinite=1, like=reference)
    np.testing.assert_array_equal(current.edges, reference.edges)
    np.testing.assert_array_equal(current.fine_edges, reference.fine_edges)
    np.testing.assert_array_equal(current.counts, bin_counts(values, reference.edges))
    np.testing.assert_array_equal(current.fine_counts, bin_counts(values, reference.fine_edges))
    assert current.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert (
        list(current.quantiles.values())
        == np.quantile(values, list(QUANTILE_LEVELS.values())).tolist()
    )
    presorted = numeric_profile(
        np.sort(values), missing=4, infinite=1, like=reference, assume_sorted=True
    )
    # Everything but the sketch, whose compactions are random.
    for name in NumericProfile.__dataclass_fields__:
        if name != "sketch":
            np.testing.assert_array_equal(getattr(presorted, name), getattr(current, name))


def test_a_current_profile_may_be_empty() -> None:
    reference = reference_numeric_profile(np.arange(10.0), missing=0, infinite=0)
    empty = numeric_profile(np.array([]), missing=7, infinite=1, like=reference)
    assert (empty.count, empty.missing, empty.infinite) == (0, 7, 1)
    assert math.isnan(empty.min) and math.isnan(empty.max) and math.isnan(empty.mean)
    assert empty.m2 == 0.0 and math.isnan(empty.variance)
    assert all(math.isnan(v) for v in empty.quantiles.values())
    assert empty.counts.sum() == 0 and empty.fine_counts.sum() == 0


def _split(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(values, sorted(c % (values.size + 1) for c in cuts))


@PROPERTIES
@given(
    samples(min_size=1, max_size=300),
    samples(min_size=0, max_size=300),
    st.lists(st.integers(0, 10_000), min_size=1, max_size=3),
)
def test_merging_the_profiles_of_parts_gives_the_profile_of_the_whole(
    reference_values: np.ndarray, values: np.ndarray, cuts: list[int]
) -> None:
    # k = 16 so that a few hundred values already push the sketch into estimation mode.
    reference = reference_numeric_profile(np.sort(reference_values), missing=0, infinite=0, k=16)
    parts = [
        numeric_profile(part, missing=i, infinite=1, like=reference)
        for i, part in enumerate(_split(values, cuts))
    ]
    merged = reduce(merge_numeric, parts)
    whole = numeric_profile(
        values, missing=sum(range(len(parts))), infinite=len(parts), like=reference
    )
    assert (merged.count, merged.missing, merged.infinite) == (
        whole.count,
        whole.missing,
        whole.infinite,
    )
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.fine_counts, whole.fine_counts)
    np.testing.assert_allclose(merged.fine_offsets, whole.fine_offsets, rtol=1e-9, atol=1e-9)
    assert merged.fences == whole.fences == reference.fences
    assert merged.outliers == whole.outliers
    if values.size == 0:
        assert math.isnan(merged.mean) and merged.m2 == 0.0
        return
    assert (merged.min, merged.max) == (whole.min, whole.max)
    assert_close_to_scale(merged.mean, whole.mean, values, 1e-9)
    assert_m2_close(merged.m2, whole.m2, values)
    assert_quantiles_within_rank_error(merged, values)


def assert_m2_close(a: float, b: float, values: np.ndarray) -> None:
    """1e-9 relative, or (for a near-constant sample) 1e-12 of n·scale², or below 1e-300."""
    scale = float(np.max(np.abs(values)))
    assert a == pytest.approx(b, rel=1e-9, abs=max(1e-12 * values.size * scale**2, 1e-300))


def assert_quantiles_within_rank_error(profile: NumericProfile, values: np.ndarray) -> None:
    """Each quantile x read at level q has true ranks around q within the sketch's error.

    The error DataSketches reports is the 99th percentile of a sketch's worst rank error; twice
    it is out of reach in practice, so the property does not fail one run in a hundred.
    """
    epsilon = 2 * sketch_rank_error(profile.sketch)
    ordered = np.sort(values)
    n = ordered.size
    for name, q in QUANTILE_LEVELS.items():
        x = profile.quantiles[name]
        below = np.searchsorted(ordered, x, side="left") / n
        at_or_below = np.searchsorted(ordered, x, side="right") / n
        # ± 1/n: numpy's linear quantile (kept while exact) lies between two sample values.
        assert below - epsilon <= q + 1.0 / n, (name, q, below, epsilon)
        assert at_or_below + epsilon >= q - 1.0 / n, (name, q, at_or_below, epsilon)


@PROPERTIES
@given(
    samples(min_size=1, max_size=100),
    samples(max_size=100),
    samples(max_size=100),
    samples(max_size=100),
)
def test_merge_is_associative_and_commutative(
    reference_values: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> None:
    reference = reference_numeric_profile(np.sort(reference_values), missing=0, infinite=0)
    pa, pb, pc = (numeric_profile(v, missing=1, infinite=0, like=reference) for v in (a, b, c))
    left = merge_numeric(merge_numeric(pa, pb), pc)
    right = merge_numeric(pa, merge_numeric(pb, pc))
    swapped = merge_numeric(merge_numeric(pc, pb), pa)
    values = np.concatenate((a, b, c))
    for other in (right, swapped):
        assert (other.count, other.missing, other.infinite) == (
            left.count,
            left.missing,
            left.infinite,
        )
        np.testing.assert_array_equal(other.counts, left.counts)
        np.testing.assert_array_equal(other.fine_counts, left.fine_counts)
        if values.size:
            assert (other.min, other.max) == (left.min, left.max)
            assert_close_to_scale(other.mean, left.mean, values, 1e-9)
            assert_m2_close(other.m2, left.m2, values)


def test_merged_quantiles_of_a_large_set_are_within_the_sketch_error() -> None:
    rng = np.random.default_rng(5)
    reference = reference_numeric_profile(np.sort(rng.normal(size=20_000)), missing=0, infinite=0)
    parts = [rng.lognormal(size=25_000) for _ in range(4)]
    merged = reduce(
        merge_numeric, (numeric_profile(p, missing=0, infinite=0, like=reference) for p in parts)
    )
    assert 0.0 < sketch_rank_error(merged.sketch) < 0.02
    assert_quantiles_within_rank_error(merged, np.concatenate(parts))
    levels = np.array(list(QUANTILE_LEVELS.values()))
    assert list(merged.quantiles.values()) == sketch_quantiles(merged.sketch, levels).tolist()


def test_merging_with_an_empty_profile_changes_nothing_but_the_counts_of_rows() -> None:
    reference = reference_numeric_profile(np.arange(100.0), missing=0, infinite=0)
    full = numeric_profile(np.arange(50.0), missing=1, infinite=0, like=reference)
    empty = numeric_profile(np.array([]), missing=2, infinite=3, like=reference)
    for merged in (merge_numeric(full, empty), merge_numeric(empty, full)):
        assert (merged.count, merged.missing, merged.infinite) == (50, 3, 3)
        assert (merged.min, merged.max, merged.mean, merged.m2) == (
            full.min,
            full.max,
            full.mean,
            full.m2,
        )
        assert merged.quantiles == full.quantiles  # still exact


def test_histogram_measures_from_profiles_equal_those_from_raw_data() -> None:
    rng = np.random.default_rng(9)
    reference_values = rng.normal(size=20_000)
    current_values = rng.normal(0.2, 1.1, 15_000)
    reference = reference_numeric_profile(np.sort(reference_values), missing=0, infinite=0)
    # The current set arrives in three partitions, profiled apart and merged.
    current = reduce(
        merge_numeric,
        (
            numeric_profile(part, missing=0, infinite=0, like=reference)
            for part in np.array_split(current_values, 3)
        ),
    )
    edges = quantile_edges(np.sort(reference_values), 10)
    raw_reference = bin_counts(reference_values, edges)
    raw_current = bin_counts(current_values, edges)
    assert psi(reference.counts, current.counts) == psi(raw_reference, raw_current)
    assert jensen_shannon_distance(reference.counts, current.counts) == (
        jensen_shannon_distance(raw_reference, raw_current)
    )


def tukey_outliers(reference: np.ndarray, values: np.ndarray) -> int:
    """Values outside the reference's [Q1 - 1.5 IQR, Q3 + 1.5 IQR], by numpy's percentiles."""
    q1, q3 = np.percentile(reference, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    return int(np.count_nonzero((values < low) | (values > high)))


@PROPERTIES
@given(samples(min_size=1, max_size=300), samples(min_size=0, max_size=300))
def test_outliers_are_counted_outside_the_references_fences(
    reference_values: np.ndarray, values: np.ndarray
) -> None:
    reference = reference_numeric_profile(np.sort(reference_values), missing=0, infinite=0)
    q1, q3 = reference.quantiles["q1"], reference.quantiles["q3"]
    assert reference.fences == (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    assert reference.outliers == tukey_outliers(reference_values, reference_values)
    current = numeric_profile(values, missing=0, infinite=0, like=reference)
    assert current.fences == reference.fences
    assert current.outliers == tukey_outliers(reference_values, values)


def test_a_heavy_tail_has_outliers_and_a_merge_with_an_unknown_count_has_none() -> None:
    rng = np.random.default_rng(3)
    values = np.sort(rng.standard_cauchy(10_000))
    reference = reference_numeric_profile(values, missing=0, infinite=0)
    assert reference.outliers == tukey_outliers(values, values) > 1_000
    fields = {name: getattr(reference, name) for name in NumericProfile.__dataclass_fields__}
    unknown = NumericProfile(**{**fields, "outliers": None})
    assert merge_numeric(reference, unknown).outliers is None
    assert merge_numeric(reference, reference).outliers == 2 * reference.outliers


def test_merge_refuses_profiles_on_different_edges() -> None:
    a = reference_numeric_profile(np.arange(10.0), missing=0, infinite=0)
    b = reference_numeric_profile(np.arange(20.0), missing=0, infinite=0)
    with pytest.raises(ValueError, match=r"same bin edges.*like=reference"):
        merge_numeric(a, b)


def test_builders_reject_bad_input_with_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"at least one finite value.*4 missing, 1 infinite"):
        reference_numeric_profile(np.array([]), missing=4, infinite=1)
    with pytest.raises(ValueError, match=r"sorted ascending"):
        reference_numeric_profile(np.array([2.0, 1.0]), missing=0, infinite=0)
    with pytest.raises(ValueError, match=r"finite values.*missing= and infinite="):
        reference_numeric_profile(np.array([1.0, np.inf]), missing=0, infinite=0)
    reference = reference_numeric_profile(np.arange(5.0), missing=0, infinite=0)
    with pytest.raises(ValueError, match=r"finite values"):
        numeric_profile(np.array([1.0, np.nan]), missing=0, infinite=0, like=reference)
    with pytest.raises(ValueError, match=r"missing= as an integer >= 0; got -1"):
        numeric_profile(np.array([1.0]), missing=-1, infinite=0, like=reference)
    with pytest.raises(ValueError, match=r"1-D sample"):
        numeric_profile(np.ones((2, 2)), missing=0, infinite=0, like=reference)
    with pytest.raises(ValueError, match=r"8 <= k <= 65535"):
        reference_numeric_profile(np.arange(5.0), missing=0, infinite=0, k=2)


def test_the_constructor_checks_that_the_fields_agree() -> None:
    good = reference_numeric_profile(np.arange(100.0), missing=0, infinite=0)
    fields = {name: getattr(good, name) for name in NumericProfile.__dataclass_fields__}
    with pytest.raises(ValueError, match=r"counts add up to 99, not to count 100"):
        NumericProfile(**{**fields, "counts": good.counts - np.eye(10, dtype=np.int64)[0]})
    with pytest.raises(ValueError, match=r"len\(edges\) \+ 1 = 10"):
        NumericProfile(**{**fields, "counts": good.counts[:-1]})
    with pytest.raises(ValueError, match=r"strictly increasing"):
        NumericProfile(**{**fields, "edges": good.edges[::-1]})
    with pytest.raises(ValueError, match=r"quantiles needs the keys"):
        NumericProfile(**{**fields, "quantiles": {"median": 1.0}})
    with pytest.raises(ValueError, match=r"count must be an integer >= 0"):
        NumericProfile(**{**fields, "count": -1})
    with pytest.raises(ValueError, match=r"finite min <= max"):
        NumericProfile(**{**fields, "min": 200.0})
    with pytest.raises(ValueError, match=r"fine_offsets must hold"):
        NumericProfile(**{**fields, "fine_offsets": -good.fine_offsets - 1})
    with pytest.raises(ValueError, match=r"fences must be two finite numbers, low <= high"):
        NumericProfile(**{**fields, "fences": (2.0, 1.0)})
    with pytest.raises(ValueError, match=r"fences must be two numbers"):
        NumericProfile(**{**fields, "fences": (1.0,)})
    with pytest.raises(ValueError, match=r"outliers must be None or an integer from 0 to count"):
        NumericProfile(**{**fields, "outliers": 101})
    with pytest.raises(ValueError, match=r"outliers must be None when the fences are unknown"):
        NumericProfile(**{**fields, "fences": (math.nan, math.nan)})


def test_profiles_are_immutable_compare_by_value_and_are_not_hashable() -> None:
    profile = reference_numeric_profile(np.arange(100.0), missing=0, infinite=0)
    with pytest.raises(ValueError, match="read-only"):
        profile.counts[0] = 5
    with pytest.raises(AttributeError):
        profile.count = 3  # type: ignore[misc]
    fields = {name: getattr(profile, name) for name in NumericProfile.__dataclass_fields__}
    assert NumericProfile(**fields) == profile
    assert NumericProfile(**{**fields, "missing": 1}) != profile
    assert profile != "a profile"
    with pytest.raises(TypeError):
        hash(profile)
    assert "fine_edges" not in repr(profile) and "sketch" not in repr(profile)
