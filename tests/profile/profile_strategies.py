"""Hypothesis strategies and seeded samples shared by the tests of `vigil.profile`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from vigil.profile import NumericProfile, numeric_profile, reference_numeric_profile

# Few examples and no deadline: the machine is shared, the suite must run in seconds.
PROPERTIES = settings(max_examples=50, deadline=None)

# Continuous values, and small integers so that ties within and across samples are common.
_continuous = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_tied = st.integers(-3, 3).map(float)


def samples(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[NDArray[np.float64]]:
    """1-D float64 samples, continuous or full of ties."""
    return st.one_of(
        arrays(np.float64, st.integers(min_size, max_size), elements=_continuous),
        arrays(np.float64, st.integers(min_size, max_size), elements=_tied),
    )


# Seeded samples of the shapes columns have: name -> draw(rng, n).
SHAPES: dict[str, Callable[[np.random.Generator, int], NDArray[np.float64]]] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "uniform": lambda rng, n: rng.uniform(-5.0, 5.0, size=n),
    "integer counts": lambda rng, n: rng.poisson(3.0, size=n).astype(np.float64),
}

# How the current set differs from the reference: name -> transform(rng, current sample).
CHANGES: dict[str, Callable[[NDArray[np.float64]], NDArray[np.float64]]] = {
    "same": lambda x: x,
    "shifted": lambda x: x + 0.5 * (np.std(x) or 1.0),
    "scaled": lambda x: x * 1.3,
    "partly outside": lambda x: x + 3.0 * (np.std(x) or 1.0),
    "disjoint": lambda x: x + 100.0 + np.ptp(x),
}


def sample_pair(
    shape: str, change: str, n_reference: int, n_current: int, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A reference sample of `shape`, and a current one of the same shape after `change`."""
    rng = np.random.default_rng(seed)
    draw = SHAPES[shape]
    reference = draw(rng, n_reference)
    current = CHANGES[change](draw(rng, n_current))
    if shape == "integer counts":
        current = np.round(current)  # keep the ties across the two samples
    return reference, current


def profiles(
    reference: NDArray[np.float64], current: NDArray[np.float64], *, k: int = 200
) -> tuple[NumericProfile, NumericProfile]:
    """The reference's profile and the current set's profile on its edges."""
    ref = reference_numeric_profile(np.sort(reference), missing=0, infinite=0, k=k)
    return ref, numeric_profile(current, missing=0, infinite=0, like=ref)
