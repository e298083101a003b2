"""Hypothesis strategies and seeded samples shared by the tests of `vigil.stats`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

# Few examples and no deadline: the machine is shared, the suite must run in seconds.
PROPERTIES = settings(max_examples=50, deadline=None)

# Continuous values, and small integers so that ties within and across samples are common.
_continuous = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_tied = st.integers(-3, 3).map(float)


def samples(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[NDArray[np.float64]]:
    """1-D float64 samples, continuous or full of ties."""
    return st.one_of(
        arrays(np.float64, st.integers(min_size, max_size), elements=_continuous),
        arrays(np.float64, st.integers(min_size, max_size), elements=_tied),
    )


@st.composite
def count_pairs(
    draw: st.DrawFn, min_bins: int = 1, max_bins: int = 12
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Two aligned count vectors with at least one row on each side; empty bins are common."""
    n_bins = draw(st.integers(min_bins, max_bins))
    counts = st.one_of(st.just(0), st.integers(0, 5), st.integers(0, 10_000))
    vector = arrays(np.int64, n_bins, elements=counts).filter(lambda c: int(c.sum()) > 0)
    return draw(vector), draw(vector)


# Seeded samples for comparisons with scipy: shape name -> draw(rng, n).
SHAPES: dict[str, Callable[[np.random.Generator, int], NDArray[np.float64]]] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "integer ties": lambda rng, n: rng.integers(0, 6, size=n).astype(np.float64),
}


def sample_pair(
    shape: str, n_reference: int, n_current: int, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A reference sample and a slightly shifted and stretched current sample of `shape`."""
    rng = np.random.default_rng(seed)
    draw = SHAPES[shape]
    reference = draw(rng, n_reference)
    current = draw(rng, n_current) * 1.05 + 0.05
    if shape == "integer ties":
        current = np.round(current)  # keep the ties across the two samples
    return reference, current
