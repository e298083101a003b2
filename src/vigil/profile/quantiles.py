"""The quantile sketch of a numeric profile: a serialized KLL sketch, and what can be read from it.

A KLL sketch keeps O(k log(n/k)) of the values it has seen and answers quantile and rank
queries with a rank error of about 1.33 % at k = 200 (the default); two sketches merge into
the sketch of both streams. The sketch is the Apache DataSketches implementation; this module
is the only place vigil imports it, and the rest of vigil handles sketches as plain `bytes`
(the DataSketches serialization, readable by its Java and C++ libraries too).

References: Karnin, Lang & Liberty (2016), *Optimal quantile approximation in streams*, FOCS;
Apache DataSketches, `kll_doubles_sketch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

# k = 200 is DataSketches' default: about 1.33 % single-sided rank error, ~5 KB once serialized.
DEFAULT_K = 200
MIN_K = 8
MAX_K = 65_535


def sketch_of(values: NDArray[np.float64], *, k: int = DEFAULT_K) -> bytes:
    """The serialized KLL sketch of `values` (finite floats, in any order).

    >>> import numpy as np
    >>> sketch = sketch_of(np.arange(1.0, 101.0))
    >>> sketch_count(sketch), sketch_quantiles(sketch, [0.5]).tolist()
    (100, [50.0])
    """
    if not MIN_K <= k <= MAX_K:
        raise ValueError(
            f"sketch_of needs {MIN_K} <= k <= {MAX_K} (the sketch's size and accuracy); got "
            f"{k}. The default {DEFAULT_K} gives a rank error of about 1.3 %."
        )
    sample = np.ascontiguousarray(values, dtype=np.float64)
    if sample.ndim != 1:
        raise ValueError(f"sketch_of needs a 1-D sample; got an array of shape {sample.shape}.")
    if sample.size and not np.all(np.isfinite(sample)):
        # The sketch would silently skip NaN and keep infinities; both belong in the profile's
        # missing and infinite counts instead.
        raise ValueError(
            "sketch_of needs finite values; the sample holds NaN or infinity. Drop (and count) "
            "them first."
        )
    from datasketches import kll_doubles_sketch  # only when profiling: keeps start-up short

    sketch = kll_doubles_sketch(k)
    if sample.size:
        sketch.update(sample)
    return bytes(sketch.serialize())


def merge_sketches(a: bytes, b: bytes) -> bytes:
    """The serialized sketch of both streams summarised by `a` and `b`.

    Sketches with different k merge; the result keeps the first one's k but has the accuracy
    of the smaller k (`sketch_rank_error` reports it).

    >>> import numpy as np
    >>> merged = merge_sketches(sketch_of(np.array([1.0, 2.0])), sketch_of(np.array([3.0])))
    >>> sketch_count(merged), sketch_quantiles(merged, [0.0, 1.0]).tolist()
    (3, [1.0, 3.0])
    """
    merged = _decoded(a)
    merged.merge(_decoded(b))
    return bytes(merged.serialize())


def sketch_quantiles(
    sketch: bytes, qs: Sequence[float] | NDArray[np.float64]
) -> NDArray[np.float64]:
    """Estimated quantiles at the levels `qs` (each in [0, 1]); NaN for an empty sketch.

    The quantile at level q is the smallest retained value x whose estimated share of values
    ≤ x is at least q (the inverse of the empirical CDF, numpy's `method="inverted_cdf"`); it
    is exact while the sketch holds every value (n ≤ k), and otherwise the true share of
    values ≤ x is within `sketch_rank_error(sketch)` of q. Levels 0 and 1 give the exact
    minimum and maximum.

    >>> import numpy as np
    >>> sketch_quantiles(sketch_of(np.array([4.0, 1.0, 3.0, 2.0])), [0.25, 0.5, 0.6]).tolist()
    [1.0, 2.0, 3.0]
    """
    levels = np.asarray(qs, dtype=np.float64)
    if levels.ndim != 1 or not np.all((levels >= 0.0) & (levels <= 1.0)):
        raise ValueError(f"sketch_quantiles needs a 1-D list of levels in [0, 1]; got {levels}.")
    decoded = _decoded(sketch)
    if decoded.is_empty():
        return np.full(levels.size, np.nan)
    result = np.asarray(decoded.get_quantiles(levels.tolist(), True), dtype=np.float64)
    # The sketch keeps the exact extremes, but reads level 0 as its smallest retained value.
    result[levels == 0.0] = decoded.get_min_value()
    result[levels == 1.0] = decoded.get_max_value()
    return result


def sketch_rank_error(sketch: bytes) -> float:
    """The sketch's normalized rank error ε: 0.0 while it holds every value (n ≤ k).

    A quantile read at level q has a true rank within q ± ε, with probability 99 % for the
    worst query of a sketch: ε is DataSketches' empirical fit of the 99th percentile of the
    largest rank error (about 1.33 % at k = 200).

    >>> import numpy as np
    >>> sketch_rank_error(sketch_of(np.arange(100.0)))
    0.0
    >>> round(sketch_rank_error(sketch_of(np.arange(10_000.0))), 4)
    0.0133
    """
    decoded = _decoded(sketch)
    if not decoded.is_estimation_mode():
        return 0.0
    return float(decoded.normalized_rank_error(False))


def sketch_count(sketch: bytes) -> int:
    """How many values the sketch has summarised.

    >>> sketch_count(sketch_of(np.array([]))), sketch_count(sketch_of(np.array([1.0, 1.0])))
    (0, 2)
    """
    return int(_decoded(sketch).n)


def sketch_k(sketch: bytes) -> int:
    """The sketch's k, its size and accuracy parameter.

    >>> sketch_k(sketch_of(np.array([1.0]), k=64))
    64
    """
    return int(_decoded(sketch).k)


def _decoded(sketch: bytes) -> Any:
    if not isinstance(sketch, bytes):
        raise ValueError(
            f"a quantile sketch is the bytes sketch_of returns; got {type(sketch).__name__}."
        )
    try:
        from datasketches import kll_doubles_sketch

        return kll_doubles_sketch.deserialize(sketch)
    # DataSketches reports damaged bytes as RuntimeError, ValueError or IndexError, depending
    # on where the check fails.
    except Exception as err:
        raise ValueError(
            f"the {len(sketch)} bytes are not a KLL doubles sketch ({err}); rebuild the profile "
            "that holds it."
        ) from None
