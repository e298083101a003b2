"""The profile of a numeric column: counts, moments, histograms on reference edges, a sketch.

A reference profile takes its bin edges from its own data; every later profile of the column
(a window, a partition, a stream) is built with `like=reference`, on the same edges, so that
histograms of different windows compare bin for bin and profiles of partitions merge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vigil.profile.quantiles import (
    DEFAULT_K,
    merge_sketches,
    sketch_k,
    sketch_of,
    sketch_quantiles,
)
from vigil.stats import bin_counts, quantile_edges, quantiles_of_sorted

# The quantiles every numeric profile carries, by name: name -> level.
QUANTILE_LEVELS: dict[str, float] = {
    "p01": 0.01,
    "p05": 0.05,
    "q1": 0.25,
    "median": 0.5,
    "q3": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
# Deciles for the histogram measures (PSI, JS, ...); 1000 bins for the approximate KS and
# Wasserstein (profile.approximate), whose error shrinks with the reference share per bin.
N_BINS = 10
N_FINE_BINS = 1000


@dataclass(frozen=True, slots=True, eq=False)
class NumericProfile:
    """A mergeable one-pass summary of the finite values of one numeric column.

    NaN and null rows are counted in `missing`, ±inf rows in `infinite`, and neither enters
    anything else. The two histograms count the values on inner edges taken from the
    reference (right-closed bins, open-ended outer bins, as `vigil.stats.bin_counts`).

    `quantiles` are exact (numpy's linear interpolation) in a profile built from data, and
    estimates read from the sketch in a merged profile, within the sketch's rank error
    (`vigil.profile.quantiles.sketch_rank_error`).

    `fences` are Tukey's fences of the reference, [Q1 − 1.5 IQR, Q3 + 1.5 IQR], carried like
    the bin edges, and `outliers` counts the values outside them, so that a profile knows its
    outlier share exactly and profiles merge; None when unknown (a version-1 profile file).

    The arrays are read-only copies. Two profiles are equal when every field is (NaN equal
    to NaN). Build profiles with `reference_numeric_profile` and `numeric_profile`; the
    constructor only checks that the fields agree with each other.
    """

    count: int  # finite values summarised
    missing: int  # null or NaN rows
    infinite: int  # +inf or -inf rows
    min: float  # NaN when count == 0
    max: float
    mean: float
    m2: float  # sum of squared deviations from the mean; 0.0 when count == 0
    edges: NDArray[np.float64]  # inner edges at the reference's deciles (or n_bins quantiles)
    counts: NDArray[np.int64]  # len(edges) + 1 bin counts
    fine_edges: NDArray[np.float64] = field(repr=False)  # at reference quantiles 1/1000 … 999/1000
    fine_counts: NDArray[np.int64] = field(repr=False)
    # Per fine bin, the sum of its values' distances to the bin's right edge (to the left
    # edge for the last, open-ended bin): the area under the CDF within each bin follows.
    fine_offsets: NDArray[np.float64] = field(repr=False)
    quantiles: dict[str, float] = field(repr=False)  # QUANTILE_LEVELS' names; NaN when empty
    sketch: bytes = field(repr=False)  # serialized KLL doubles sketch
    fences: tuple[float, float]  # the reference's [Q1 - 1.5 IQR, Q3 + 1.5 IQR]
    outliers: int | None  # values outside `fences`; None when unknown

    def __post_init__(self) -> None:
        for name in ("count", "missing", "infinite"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"NumericProfile.{name} must be an integer >= 0; got {value!r}.")
            object.__setattr__(self, name, int(value))
        for name in ("min", "max", "mean", "m2"):
            object.__setattr__(self, name, float(getattr(self, name)))
        _set_histogram(self, "edges", "counts")
        _set_histogram(self, "fine_edges", "fine_counts")
        offsets = np.array(self.fine_offsets, dtype=np.float64)
        if (
            offsets.shape != self.fine_counts.shape
            or not np.all(np.isfinite(offsets))
            or np.any(offsets < 0)
        ):
            raise ValueError(
                "NumericProfile.fine_offsets must hold one finite sum >= 0 per fine bin "
                f"({self.fine_counts.size}); got {offsets.size} (smallest "
                f"{offsets.min(initial=0.0)})."
            )
        offsets.setflags(write=False)
        object.__setattr__(self, "fine_offsets", offsets)
        if self.count == 0:
            if not (math.isnan(self.min) and math.isnan(self.max) and math.isnan(self.mean)):
                raise ValueError(
                    "an empty NumericProfile (count 0) has NaN min, max and mean; got "
                    f"{self.min}, {self.max}, {self.mean}."
                )
        elif (
            not (math.isfinite(self.min) and math.isfinite(self.max) and math.isfinite(self.mean))
            or not self.min <= self.max
        ):
            raise ValueError(
                "NumericProfile needs finite min <= max and a finite mean; got min "
                f"{self.min}, max {self.max}, mean {self.mean}."
            )
        if not (self.m2 >= 0.0 and math.isfinite(self.m2)):
            raise ValueError(f"NumericProfile.m2 must be finite and >= 0; got {self.m2}.")
        if set(self.quantiles) != set(QUANTILE_LEVELS):
            raise ValueError(
                f"NumericProfile.quantiles needs the keys {', '.join(QUANTILE_LEVELS)}; got "
                f"{', '.join(self.quantiles) or 'none'}."
            )
        quantiles = {name: float(self.quantiles[name]) for name in QUANTILE_LEVELS}
        object.__setattr__(self, "quantiles", quantiles)
        if not isinstance(self.sketch, bytes):
            raise ValueError(
                f"NumericProfile.sketch must be bytes; got {type(self.sketch).__name__}."
            )
        _set_fences(self)

    @property
    def variance(self) -> float:
        """Sample variance (ddof = 1) of the finite values; NaN with fewer than 2 of them."""
        return self.m2 / (self.count - 1) if self.count >= 2 else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof = 1); NaN with fewer than 2 values."""
        return math.sqrt(self.variance)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericProfile):
            return NotImplemented
        return (
            (self.count, self.missing, self.infinite, self.sketch)
            == (other.count, other.missing, other.infinite, other.sketch)
            and all(
                _same_float(getattr(self, name), getattr(other, name))
                for name in ("min", "max", "mean", "m2")
            )
            and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("edges", "counts", "fine_edges", "fine_counts", "fine_offsets")
            )
            and self.quantiles.keys() == other.quantiles.keys()
            and all(_same_float(v, other.quantiles[q]) for q, v in self.quantiles.items())
            and all(_same_float(a, b) for a, b in zip(self.fences, other.fences, strict=True))
            and self.outliers == other.outliers
        )

    # Mutable arrays and a dict inside: a profile is not hashable.
    __hash__ = None  # type: ignore[assignment]


def reference_numeric_profile(
    sorted_values: NDArray[np.float64],
    *,
    missing: int,
    infinite: int,
    n_bins: int = N_BINS,
    k: int = DEFAULT_K,
) -> NumericProfile:
    """The profile of a reference column, with bin edges taken from its own values.

    `sorted_values` are the column's finite values in ascending order; `missing` and
    `infinite` count the rows left out. `edges` are the reference quantiles at 1/n_bins, …
    (the deciles by default; the spec's `drift.bins`); `k` sizes the quantile sketch.

    >>> import numpy as np
    >>> p = reference_numeric_profile(np.arange(1.0, 101.0), missing=2, infinite=0)
    >>> p.count, p.mean, p.quantiles["median"], p.counts.tolist()
    (100, 50.5, 50.5, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    """
    values = np.asarray(sorted_values, dtype=np.float64)
    _check_sample("reference_numeric_profile", values, missing, infinite)
    if values.size == 0:
        raise ValueError(
            "reference_numeric_profile needs at least one finite value (its bin edges come "
            f"from them); got none ({missing} missing, {infinite} infinite)."
        )
    if np.any(values[1:] < values[:-1]):
        raise ValueError(
            "reference_numeric_profile needs its values sorted ascending; sort them first "
            "(np.sort)."
        )
    return _profile(
        values,
        missing=missing,
        infinite=infinite,
        edges=quantile_edges(values, n_bins),
        fine_edges=quantile_edges(values, N_FINE_BINS),
        fences=iqr_fences(*quantiles_of_sorted(values, np.array([0.25, 0.75])).tolist()),
        k=k,
    )


def numeric_profile(
    values: NDArray[np.float64],
    *,
    missing: int,
    infinite: int,
    like: NumericProfile,
    assume_sorted: bool = False,
) -> NumericProfile:
    """The profile of a column's finite `values` on the bin edges of `like` (the reference).

    Profiles built like the same reference merge with each other and compare with it bin for
    bin. `values` may be empty (every row missing or infinite). Pass `assume_sorted=True`
    when they are already ascending (then not copied and not checked).

    >>> import numpy as np
    >>> reference = reference_numeric_profile(np.arange(1.0, 101.0), missing=0, infinite=0)
    >>> current = numeric_profile(np.full(5, 95.0), missing=1, infinite=0, like=reference)
    >>> current.count, current.missing, current.counts.tolist()
    (5, 1, [0, 0, 0, 0, 0, 0, 0, 0, 0, 5])
    """
    sample = np.asarray(values, dtype=np.float64)
    if not assume_sorted:
        sample = np.sort(sample)
    _check_sample("numeric_profile", sample, missing, infinite)
    return _profile(
        sample,
        missing=missing,
        infinite=infinite,
        edges=like.edges,
        fine_edges=like.fine_edges,
        fences=like.fences,
        k=sketch_k(like.sketch),
    )


def merge_numeric(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    """The profile of both sets `a` and `b` summarise; both must share their bin edges.

    Counts and histograms add; mean and m2 combine exactly (Chan, Golub & LeVeque); the
    sketches merge. The merged quantiles are read from the merged sketch, so they are
    estimates (within `sketch_rank_error`) unless one side is empty. Merging is associative
    and commutative, up to float rounding of the moments and the sketch's randomness.

    Reference: Chan, Golub & LeVeque (1979), *Updating formulae and a pairwise algorithm for
    computing sample variances*, Stanford CS report STAN-CS-79-773.

    >>> import numpy as np
    >>> reference = reference_numeric_profile(np.arange(1.0, 101.0), missing=0, infinite=0)
    >>> left = numeric_profile(np.array([1.0, 2.0]), missing=1, infinite=0, like=reference)
    >>> right = numeric_profile(np.array([3.0, 4.0]), missing=0, infinite=2, like=reference)
    >>> both = merge_numeric(left, right)
    >>> both.count, both.missing, both.infinite, both.mean, both.variance
    (4, 1, 2, 2.5, 1.6666666666666667)
    """
    for name in ("edges", "fine_edges", "fences"):
        mine, theirs = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        if not np.array_equal(mine, theirs, equal_nan=True):
            raise ValueError(
                f"merge_numeric needs two profiles on the same bin edges; their {name} differ "
                f"({mine.size} and {theirs.size} edges). Build every profile of a column with "
                "numeric_profile(..., like=reference)."
            )
    n = a.count + b.count
    sketch = merge_sketches(a.sketch, b.sketch)
    if a.count == 0 or b.count == 0:
        # Merging with an empty profile changes no moment, and keeps exact quantiles exact.
        full = b if a.count == 0 else a
        low, high, mean, m2 = full.min, full.max, full.mean, full.m2
        quantiles = dict(full.quantiles)
    else:
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.count / n)
        m2 = a.m2 + b.m2 + delta * delta * (a.count / n) * b.count
        low, high = min(a.min, b.min), max(a.max, b.max)
        levels = list(QUANTILE_LEVELS.values())
        estimates = sketch_quantiles(sketch, levels).tolist()
        quantiles = dict(zip(QUANTILE_LEVELS, estimates, strict=True))
    return NumericProfile(
        count=n,
        missing=a.missing + b.missing,
        infinite=a.infinite + b.infinite,
        min=low,
        max=high,
        mean=mean,
        m2=m2,
        edges=a.edges,
        counts=a.counts + b.counts,
        fine_edges=a.fine_edges,
        fine_counts=a.fine_counts + b.fine_counts,
        fine_offsets=a.fine_offsets + b.fine_offsets,
        quantiles=quantiles,
        sketch=sketch,
        fences=a.fences,
        outliers=None if a.outliers is None or b.outliers is None else a.outliers + b.outliers,
    )


def iqr_fences(q1: float, q3: float) -> tuple[float, float]:
    """Tukey's fences [Q1 − 1.5 IQR, Q3 + 1.5 IQR]: values outside them are outliers.

    >>> iqr_fences(1.0, 3.0)
    (-2.0, 6.0)
    """
    iqr = q3 - q1
    return q1 - 1.5 * iqr, q3 + 1.5 * iqr


def _profile(
    sorted_values: NDArray[np.float64],
    *,
    missing: int,
    infinite: int,
    edges: NDArray[np.float64],
    fine_edges: NDArray[np.float64],
    fences: tuple[float, float],
    k: int,
) -> NumericProfile:
    n = sorted_values.size
    if n:
        low, high = float(sorted_values[0]), float(sorted_values[-1])
        mean = float(np.mean(sorted_values))
        # Two passes (mean, then squared deviations) as np.var does: no cancellation.
        deviations = sorted_values - mean
        np.square(deviations, out=deviations)
        m2 = float(np.sum(deviations))
        levels = np.fromiter(QUANTILE_LEVELS.values(), dtype=np.float64)
        exact = quantiles_of_sorted(sorted_values, levels).tolist()
        quantiles = dict(zip(QUANTILE_LEVELS, exact, strict=True))
    else:
        low = high = mean = math.nan
        m2 = 0.0
        quantiles = dict.fromkeys(QUANTILE_LEVELS, math.nan)
    fine_counts = bin_counts(sorted_values, fine_edges, assume_sorted=True)
    return NumericProfile(
        count=n,
        missing=missing,
        infinite=infinite,
        min=low,
        max=high,
        mean=mean,
        m2=m2,
        edges=edges,
        counts=bin_counts(sorted_values, edges, assume_sorted=True),
        fine_edges=fine_edges,
        fine_counts=fine_counts,
        fine_offsets=_offsets(sorted_values, fine_edges, fine_counts),
        quantiles=quantiles,
        sketch=sketch_of(sorted_values, k=k),
        fences=fences,
        outliers=int(
            np.searchsorted(sorted_values, fences[0], side="left")
            + n
            - np.searchsorted(sorted_values, fences[1], side="right")
        ),
    )


def _offsets(
    sorted_values: NDArray[np.float64], edges: NDArray[np.float64], counts: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Per bin, the sum of |anchor − x| where the anchor is the bin's right edge (the last
    bin's left edge): small positive numbers, free of the cancellation of Σx − count·edge."""
    bins = np.repeat(np.arange(counts.size), counts)
    anchors = np.append(edges, edges[-1])[bins]
    np.subtract(anchors, sorted_values, out=anchors)
    np.abs(anchors, out=anchors)
    # With weights, bincount sums in float64 (its stubs say int).
    return np.bincount(bins, weights=anchors, minlength=counts.size).astype(np.float64)


def _check_sample(method: str, values: NDArray[np.float64], missing: int, infinite: int) -> None:
    if values.ndim != 1:
        raise ValueError(
            f"{method} needs a 1-D sample; got an array of shape {values.shape}. Pass one "
            "column at a time."
        )
    # Sorted as np.sort leaves them, NaN is last and ±inf are at the ends.
    if values.size and not (np.isfinite(values[0]) and np.isfinite(values[-1])):
        raise ValueError(
            f"{method} needs finite values; the sample holds NaN or infinity (smallest "
            f"{values[0]}, largest {values[-1]}). Drop them and pass their numbers as "
            "missing= and infinite=."
        )
    for name, value in (("missing", missing), ("infinite", infinite)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{method} needs {name}= as an integer >= 0; got {value!r}.")


def _set_histogram(profile: NumericProfile, edges_name: str, counts_name: str) -> None:
    """Store read-only float64/int64 copies of one histogram, after checking it is coherent."""
    edges = np.array(getattr(profile, edges_name), dtype=np.float64)
    counts = np.array(getattr(profile, counts_name), dtype=np.int64)
    if (
        edges.ndim != 1
        or edges.size == 0
        or not np.all(np.isfinite(edges))
        or np.any(np.diff(edges) <= 0)
    ):
        raise ValueError(
            f"NumericProfile.{edges_name} must be at least one finite edge, strictly "
            f"increasing; got {edges}."
        )
    if counts.shape != (edges.size + 1,) or np.any(counts < 0):
        raise ValueError(
            f"NumericProfile.{counts_name} must hold len({edges_name}) + 1 = {edges.size + 1} "
            f"counts >= 0; got {counts.size} counts (smallest {counts.min(initial=0)})."
        )
    if int(counts.sum()) != profile.count:
        raise ValueError(
            f"NumericProfile.{counts_name} add up to {int(counts.sum())}, not to count "
            f"{profile.count}."
        )
    edges.setflags(write=False)
    counts.setflags(write=False)
    object.__setattr__(profile, edges_name, edges)
    object.__setattr__(profile, counts_name, counts)


def _set_fences(profile: NumericProfile) -> None:
    """Store the fences as a pair of floats, after checking them and the outlier count."""
    try:
        low, high = (float(x) for x in profile.fences)
    except (TypeError, ValueError):
        raise ValueError(
            f"NumericProfile.fences must be two numbers (low, high); got {profile.fences!r}."
        ) from None
    unknown = math.isnan(low) and math.isnan(high)  # a version-1 file's empty column
    if not (unknown or (math.isfinite(low) and math.isfinite(high) and low <= high)):
        raise ValueError(
            f"NumericProfile.fences must be two finite numbers, low <= high; got {low}, {high}."
        )
    object.__setattr__(profile, "fences", (low, high))
    outliers = profile.outliers
    if outliers is None:
        return
    if unknown:
        raise ValueError("NumericProfile.outliers must be None when the fences are unknown (NaN).")
    if (
        isinstance(outliers, bool)
        or not isinstance(outliers, (int, np.integer))
        or not 0 <= outliers <= profile.count
    ):
        raise ValueError(
            f"NumericProfile.outliers must be None or an integer from 0 to count "
            f"{profile.count}; got {outliers!r}."
        )
    object.__setattr__(profile, "outliers", int(outliers))


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
