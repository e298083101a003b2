import numpy as np
import pytest
from hypothesis import given
from profile_strategies import PROPERTIES, samples

from vigil.profile import merge_sketches, sketch_of, sketch_quantiles, sketch_rank_error
from vigil.profile.quantiles import sketch_count, sketch_k

LEVELS = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])


@PROPERTIES
@given(samples(max_size=200))
def test_a_sketch_that_holds_every_value_gives_the_exact_inverse_cdf(values: np.ndarray) -> None:
    sketch = sketch_of(values)
    assert sketch_rank_error(sketch) == 0.0
    expected = np.quantile(values, LEVELS[1:], method="inverted_cdf")
    np.testing.assert_array_equal(sketch_quantiles(sketch, LEVELS[1:]), expected)
    assert sketch_quantiles(sketch, [0.0, 1.0]).tolist() == [values.min(), values.max()]


def test_a_large_sketch_is_within_its_rank_error() -> None:
    values = np.random.default_rng(1).lognormal(size=200_000)
    sketch = sketch_of(values)
    epsilon = sketch_rank_error(sketch)
    assert epsilon == pytest.approx(0.0133, abs=1e-4)
    assert len(sketch) < 10_000  # a few KB, whatever the number of values
    ordered = np.sort(values)
    ranks = np.searchsorted(ordered, sketch_quantiles(sketch, LEVELS), side="right") / values.size
    assert np.all(np.abs(ranks - LEVELS) <= epsilon)


def test_merged_sketches_count_both_streams_with_the_accuracy_of_the_smaller_k() -> None:
    a = sketch_of(np.arange(1_000.0), k=200)
    b = sketch_of(np.arange(1_000.0, 3_000.0), k=64)
    merged = merge_sketches(a, b)
    assert sketch_count(merged) == 3_000
    assert sketch_k(merged) == 200
    assert sketch_rank_error(merged) == sketch_rank_error(merge_sketches(b, a)) > 0.04
    assert sketch_quantiles(merged, [0.0, 1.0]).tolist() == [0.0, 2_999.0]
    median = sketch_quantiles(merged, [0.5])[0]
    assert abs(median / 3_000 - 0.5) <= sketch_rank_error(merged)


def test_an_empty_sketch_has_no_quantiles() -> None:
    empty = sketch_of(np.array([]))
    assert sketch_count(empty) == 0
    assert np.isnan(sketch_quantiles(empty, [0.5])).all()
    assert sketch_count(merge_sketches(empty, sketch_of(np.array([1.0])))) == 1


def test_sketch_functions_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"finite values.*Drop \(and count\)"):
        sketch_of(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"8 <= k <= 65535.*got 4"):
        sketch_of(np.array([1.0]), k=4)
    with pytest.raises(ValueError, match=r"1-D sample"):
        sketch_of(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"levels in \[0, 1\]"):
        sketch_quantiles(sketch_of(np.array([1.0])), [1.5])
    with pytest.raises(ValueError, match=r"12 bytes are not a KLL doubles sketch"):
        sketch_quantiles(b"not a sketch", [0.5])
    with pytest.raises(ValueError, match=r"not a KLL doubles sketch"):
        sketch_count(sketch_of(np.arange(1_000.0))[:-10])
    with pytest.raises(ValueError, match=r"bytes sketch_of returns; got str"):
        sketch_count("sketch")  # type: ignore[arg-type]
