from collections import Counter
from functools import reduce

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from profile_strategies import PROPERTIES

from vigil.profile import (
    CategoricalProfile,
    aligned_counts,
    categorical_profile,
    merge_categorical,
)
from vigil.stats import chi2_test, psi

category_lists = st.lists(
    st.sampled_from(["red", "green", "blue", "ünïcode", "", "1"]), max_size=60
)


def profile_of(values: list[str], missing: int = 0) -> CategoricalProfile:
    return categorical_profile(Counter(values), missing=missing)


def test_a_profile_counts_categories_and_drops_the_unseen() -> None:
    profile = categorical_profile({"red": 2, "green": 0, "blue": 1}, missing=4)
    assert profile == CategoricalProfile(count=3, missing=4, counts={"red": 2, "blue": 1})


@PROPERTIES
@given(category_lists, category_lists, category_lists)
def test_merge_is_the_profile_of_the_concatenation_associative_and_commutative(
    a: list[str], b: list[str], c: list[str]
) -> None:
    pa, pb, pc = profile_of(a, 1), profile_of(b, 2), profile_of(c, 3)
    whole = profile_of(a + b + c, 6)
    assert reduce(merge_categorical, (pa, pb, pc)) == whole
    assert merge_categorical(pa, merge_categorical(pb, pc)) == whole
    assert merge_categorical(merge_categorical(pc, pb), pa) == whole


@PROPERTIES
@given(category_lists, category_lists)
def test_aligned_counts_cover_the_union_in_the_reference_order(
    reference_values: list[str], current_values: list[str]
) -> None:
    reference, current = profile_of(reference_values), profile_of(current_values)
    categories, ref, cur = aligned_counts(reference, current)
    assert sorted(categories) == sorted(set(reference_values) | set(current_values))
    assert ref.dtype == cur.dtype == np.int64
    assert ref.sum() == reference.count and cur.sum() == current.count
    assert [reference.counts.get(c, 0) for c in categories] == ref.tolist()
    assert [current.counts.get(c, 0) for c in categories] == cur.tolist()
    order = [(-reference.counts.get(c, 0), c) for c in categories]
    assert order == sorted(order)


def test_aligned_counts_put_new_categories_last_by_name() -> None:
    reference = CategoricalProfile(6, 0, {"b": 3, "a": 3})
    current = CategoricalProfile(4, 0, {"z": 1, "a": 1, "c": 2})
    categories, ref, cur = aligned_counts(reference, current)
    assert categories == ["a", "b", "c", "z"]
    assert ref.tolist() == [3, 3, 0, 0] and cur.tolist() == [1, 0, 2, 1]


def test_measures_from_aligned_profiles_equal_those_from_raw_counts() -> None:
    rng = np.random.default_rng(4)
    reference_values = rng.choice(["a", "b", "c"], 5_000, p=[0.5, 0.3, 0.2]).tolist()
    current_values = rng.choice(["a", "b", "d"], 3_000, p=[0.2, 0.3, 0.5]).tolist()
    # The current set profiled in two partitions and merged.
    current = merge_categorical(
        profile_of(current_values[:1_000]), profile_of(current_values[1_000:])
    )
    _, ref, cur = aligned_counts(profile_of(reference_values), current)
    raw_ref = np.array([reference_values.count(c) for c in "abcd"])
    raw_cur = np.array([current_values.count(c) for c in "abcd"])
    assert chi2_test(ref, cur) == chi2_test(raw_ref, raw_cur)
    assert psi(ref, cur) == psi(raw_ref, raw_cur)


def test_the_constructor_checks_its_fields() -> None:
    with pytest.raises(ValueError, match=r"add up to 3, not to count 4"):
        CategoricalProfile(4, 0, {"a": 3})
    with pytest.raises(ValueError, match=r"categories as strings; got 1 \(int\)"):
        CategoricalProfile(1, 0, {1: 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"counts >= 1; category 'a' has 0"):
        CategoricalProfile(0, 0, {"a": 0})
    with pytest.raises(ValueError, match=r"missing must be an integer >= 0; got -2"):
        CategoricalProfile(0, -2, {})
