"""The four histogram measures from one check of the counts are the four functions' values."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.stats import (
    hellinger_distance,
    histogram_measures,
    jensen_shannon_distance,
    kl_divergence,
    psi,
)

from .strategies import PROPERTIES


@PROPERTIES
@given(st.data(), st.sampled_from([1e-4, 1e-6, 0.3]))
def test_histogram_measures_are_each_functions_value_bit_for_bit(
    data: st.DataObject, floor: float
) -> None:
    n = data.draw(st.integers(1, 40))
    # empty bins on either side, single rows, huge counts
    counts = st.one_of(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 10**12))
    reference = data.draw(arrays(np.int64, n, elements=counts).filter(lambda c: c.sum() > 0))
    current = data.draw(arrays(np.int64, n, elements=counts).filter(lambda c: c.sum() > 0))
    measures = histogram_measures(reference, current, floor=floor)
    assert measures.psi == psi(reference, current, floor=floor)
    assert measures.kl == kl_divergence(reference, current, floor=floor)
    assert measures.jensen_shannon == jensen_shannon_distance(reference, current)
    assert measures.hellinger == hellinger_distance(reference, current)


def test_histogram_measures_refuse_what_the_functions_refuse() -> None:
    with pytest.raises(ValueError, match="histogram_measures needs at least one counted row"):
        histogram_measures(np.array([0, 0]), np.array([1, 2]))
    with pytest.raises(ValueError, match="same length"):
        histogram_measures(np.array([1, 2]), np.array([1, 2, 3]))
