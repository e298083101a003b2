"""Quantile bin edges from the reference sample, and counts of any sample on those edges.

The edges come from the reference only, so every current window is counted on the same bins
and histogram measures (PSI, JS, ...) of different windows can be compared.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def quantiles_of_sorted(
    sorted_values: NDArray[np.float64], qs: NDArray[np.float64]
) -> NDArray[np.float64]:
    """`np.quantile(values, qs)` (default "linear" method) of an already sorted sample.

    Reads two values per quantile instead of partitioning the sample: O(len(qs)), not
    O(len(values)). The interpolation is numpy's, step for step, so the results are identical
    to `np.quantile`'s, bit for bit. The sample is trusted to be sorted ascending.

    Reference: Hyndman & Fan (1996), *Sample quantiles in statistical packages*, The American
    Statistician 50(4), definition 7; `numpy.quantile`.

    >>> import numpy as np
    >>> quantiles_of_sorted(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.5, 0.9, 1.0]))
    array([1. , 2.5, 3.7, 4. ])
    """
    values = np.asarray(sorted_values, dtype=np.float64)
    q = np.asarray(qs, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"quantiles_of_sorted needs a non-empty 1-D sample; got shape {values.shape}."
        )
    if not np.all((q >= 0.0) & (q <= 1.0)):
        raise ValueError(f"quantiles_of_sorted needs quantiles in [0, 1]; got {q}.")
    last = values.size - 1
    position = last * q
    below = np.floor(position)
    weight = position - below
    lower_index = below.astype(np.intp)
    upper_index = np.minimum(lower_index + 1, last)
    lower, upper = values[lower_index], values[upper_index]
    # numpy's lerp: from the nearer end, so that weight 0 and 1 return a sample value exactly.
    step = upper - lower
    result: NDArray[np.float64] = lower + step * weight
    np.subtract(upper, step * (1.0 - weight), out=result, where=weight >= 0.5)
    return result


def quantile_edges(sorted_reference: NDArray[np.float64], n_bins: int = 10) -> NDArray[np.float64]:
    """Inner bin edges at the reference's quantiles 1/n_bins, …, (n_bins − 1)/n_bins.

    Tied quantiles are merged (`np.unique`), so a column with many repeated values gets fewer
    bins than asked; a constant column gets one edge and two bins. n_bins=10 gives the
    deciles. The quantile levels are `np.arange(1, n_bins) / n_bins` with numpy's linear
    interpolation.

    Reference: `numpy.quantile`; Siddiqi (2006), *Credit Risk Scorecards*, ch. 8 (PSI on
    reference deciles).

    >>> import numpy as np
    >>> quantile_edges(np.arange(1.0, 11.0), n_bins=4)
    array([3.25, 5.5 , 7.75])
    >>> quantile_edges(np.array([0.0, 0.0, 0.0, 1.0]), n_bins=4)
    array([0.  , 0.25])
    """
    if n_bins < 2:
        raise ValueError(
            f"quantile_edges needs n_bins >= 2 (one bin cannot show a change); got {n_bins}."
        )
    reference = np.asarray(sorted_reference, dtype=np.float64)
    if reference.ndim != 1 or reference.size == 0:
        raise ValueError(
            "quantile_edges needs a non-empty 1-D reference sample; got shape "
            f"{reference.shape}. Skip the column when the reference has no finite value."
        )
    levels = np.arange(1, n_bins) / n_bins
    return np.unique(quantiles_of_sorted(reference, levels))


def bin_counts(
    values: NDArray[np.float64],
    inner_edges: NDArray[np.float64],
    *,
    assume_sorted: bool = False,
) -> NDArray[np.int64]:
    """How many values fall in each bin of `inner_edges`: len(inner_edges) + 1 counts.

    Bins are closed on the right and the outer ones are open-ended: bin 0 is (−∞, e₀], bin i
    is (eᵢ₋₁, eᵢ], the last is (e_last, +∞). Values beyond the reference's range therefore land
    in the outer bins instead of being lost. With `assume_sorted=True` the values must be
    sorted ascending, and counting costs O(len(edges) · log n) instead of O(n log len(edges)).

    Reference: `numpy.histogram`, with open outer bins and right-closed bins.

    >>> import numpy as np
    >>> bin_counts(np.array([0.5, 1.0, 1.5, 2.0, 9.0]), np.array([1.0, 2.0]))
    array([2, 2, 1])
    """
    edges = np.asarray(inner_edges, dtype=np.float64)
    if edges.ndim != 1 or not np.isfinite(edges).all() or not (edges[1:] > edges[:-1]).all():
        raise ValueError(
            "bin_counts needs finite, strictly increasing inner edges; got "
            f"{edges}. Build them with quantile_edges(sorted_reference)."
        )
    sample = np.asarray(values, dtype=np.float64)
    if assume_sorted:
        # How many values are <= each edge; consecutive differences are the bin counts.
        at_or_below = np.searchsorted(sample, edges, side="right")
        counts = np.diff(np.concatenate(([0], at_or_below, [sample.size])))
    else:
        # Bin of each value: the number of edges strictly below it (right-closed bins).
        counts = np.bincount(np.searchsorted(edges, sample, side="left"), minlength=edges.size + 1)
    return counts.astype(np.int64, copy=False)
