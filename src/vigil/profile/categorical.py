"""The profile of a categorical column: how many rows hold each category, and how many none.

Categories are strings; the caller canonicalises them first (booleans as "true"/"false",
whole floats as integers), so that the same category is spelled the same way in every set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """Counts of each category of one column; mergeable by adding them.

    `count` is the number of rows with a value (the sum of `counts`), `missing` the number of
    null rows. Only categories seen at least once are kept.

    >>> CategoricalProfile(count=3, missing=1, counts={"red": 2, "blue": 1})
    CategoricalProfile(count=3, missing=1, counts={'red': 2, 'blue': 1})
    """

    count: int
    missing: int
    counts: dict[str, int]

    def __post_init__(self) -> None:
        for name in ("count", "missing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(
                    f"CategoricalProfile.{name} must be an integer >= 0; got {value!r}."
                )
            object.__setattr__(self, name, int(value))
        counts: dict[str, int] = {}
        for category, n in self.counts.items():
            if not isinstance(category, str):
                raise ValueError(
                    "CategoricalProfile needs categories as strings; got "
                    f"{category!r} ({type(category).__name__}). Convert them first."
                )
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(
                    f"CategoricalProfile needs counts >= 1; category {category!r} has {n!r}. "
                    "Leave out categories that were not seen."
                )
            counts[category] = int(n)
        total = sum(counts.values())
        if total != self.count:
            raise ValueError(
                f"CategoricalProfile's category counts add up to {total}, not to count "
                f"{self.count}."
            )
        object.__setattr__(self, "counts", counts)


def categorical_profile(counts: Mapping[str, int], *, missing: int) -> CategoricalProfile:
    """The profile of a column from its category counts and its number of null rows.

    Categories counted 0 are dropped; `count` is the sum of the counts (pyarrow's
    `value_counts` or `collections.Counter` give the mapping).

    >>> categorical_profile({"red": 2, "green": 0, "blue": 1}, missing=4)
    CategoricalProfile(count=3, missing=4, counts={'red': 2, 'blue': 1})
    """
    kept = {category: n for category, n in counts.items() if n != 0}
    return CategoricalProfile(count=sum(kept.values()), missing=missing, counts=kept)


def merge_categorical(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    """The profile of both sets: counts of each category added.

    >>> merged = merge_categorical(
    ...     CategoricalProfile(2, 0, {"red": 2}), CategoricalProfile(2, 1, {"red": 1, "blue": 1})
    ... )
    >>> merged.count, merged.missing, merged.counts
    (4, 1, {'red': 3, 'blue': 1})
    """
    counts = dict(a.counts)
    for category, n in b.counts.items():
        counts[category] = counts.get(category, 0) + n
    return CategoricalProfile(count=a.count + b.count, missing=a.missing + b.missing, counts=counts)


def aligned_counts(
    reference: CategoricalProfile, current: CategoricalProfile
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64]]:
    """Both sets' counts over the union of their categories, in one order.

    The order is the reference's most common category first, ties by name; categories only
    the current set holds come last, by name. These are the aligned vectors the chi-squared,
    PSI and Jensen–Shannon kernels take.

    >>> categories, ref, cur = aligned_counts(
    ...     CategoricalProfile(5, 0, {"b": 2, "a": 2, "c": 1}), CategoricalProfile(3, 0, {"d": 3})
    ... )
    >>> categories, ref.tolist(), cur.tolist()
    (['a', 'b', 'c', 'd'], [2, 2, 1, 0], [0, 0, 0, 3])
    """
    union = set(reference.counts) | set(current.counts)
    categories = sorted(union, key=lambda c: (-reference.counts.get(c, 0), c))
    ref = np.fromiter((reference.counts.get(c, 0) for c in categories), np.int64, len(categories))
    cur = np.fromiter((current.counts.get(c, 0) for c in categories), np.int64, len(categories))
    return categories, ref, cur
