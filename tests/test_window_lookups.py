"""A window much smaller than its reference is measured by lookups into the reference: the
prepared and the fresh report stay identical, and the numbers are scipy's."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vigil.evaluation import PreparedReference, evaluate
from vigil.measure.quality import median_of_sorted
from vigil.report.json import report_to_json
from vigil.spec import spec_from_dict
from vigil.stats import quantiles_of_sorted
from vigil.stats.ecdf import uses_lookups

SPEC = {
    "version": 1,
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "far": {"role": "feature", "kind": "numeric"},
        "steps": {"role": "feature", "kind": "numeric"},
        "city": {"role": "feature", "kind": "categorical"},
    },
}


def rows(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "x": rng.normal(shift, 1.0, n),
            "far": rng.normal(1e9 + shift, 3.0, n),  # far from 0: the prefix integral's test
            "steps": np.round(rng.normal(shift, 2.0, n)),  # ties within and across the sets
            "city": rng.choice(["a", "b", "c"], n),
        }
    )


def report(result: object) -> dict[str, object]:
    out: dict[str, object] = json.loads(report_to_json(result))  # type: ignore[arg-type]
    out.pop("created")
    return out


@pytest.mark.parametrize(("size", "shift"), [(500, 0.0), (300, 0.4), (1, 1.0), (1_500, 0.2)])
def test_a_prepared_reference_read_by_lookups_gives_the_fresh_report(
    size: int, shift: float
) -> None:
    spec = spec_from_dict(SPEC)
    reference = rows(60_000, 1)
    prepared = PreparedReference(reference, spec)
    current = rows(size, 2 + size, shift)
    assert uses_lookups(60_000, size)
    fresh = evaluate(reference, current, spec)
    for _ in range(2):  # the second call reads what the first kept
        assert report(evaluate(prepared, current, spec)) == report(fresh)
    for name in ("x", "far", "steps"):
        ref = reference.column(name).to_numpy()
        cur = current.column(name).to_numpy()
        metrics = fresh.drift.columns[name].metrics
        assert metrics["ks"] == scipy.stats.ks_2samp(ref, cur, method="asymp").statistic
        expected = scipy.stats.wasserstein_distance(ref, cur)
        assert metrics["wasserstein"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert metrics["wasserstein_norm"] == pytest.approx(
            expected / np.std(ref, ddof=1), rel=1e-9
        )


def test_what_a_report_holds_of_the_kept_reference_is_its_own() -> None:
    spec = spec_from_dict(SPEC)
    prepared = PreparedReference(rows(5_000, 3), spec)
    current = rows(200, 4, 0.5)
    first = evaluate(prepared, current, spec)
    expected = report(first)
    first.quality.columns["x"].reference_stats["mean"] = 1e6  # a caller changes its report
    assert report(evaluate(prepared, current, spec)) == expected


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.one_of(
            st.floats(-1e300, 1e300), st.sampled_from([0.0, -0.0, 1.0, 5e-324, 0.1])
        ),
    )
)
def test_a_window_columns_median_is_numpys_quantile_bit_for_bit(values: np.ndarray) -> None:
    ordered = np.sort(values)
    expected = float(quantiles_of_sorted(ordered, np.array([0.5]))[0])  # what it replaces
    got = median_of_sorted(ordered)
    assert got == expected or (np.isnan(got) and np.isnan(expected))
    assert np.signbit(got) == np.signbit(expected)  # even the sign of a zero
    assert got == float(np.quantile(ordered, 0.5)) or np.isnan(got)


def test_a_small_window_measured_on_the_calling_thread_reports_as_the_pool_does() -> None:
    """Against a prepared reference read once, a window under INLINE_ROWS is measured without
    threads; the report is the one the thread pool gives, and a job's error comes out of
    `result()` as a pool's future gives it."""
    from vigil.evaluation import INLINE_ROWS, _Inline

    spec = spec_from_dict(SPEC)
    prepared = PreparedReference(rows(30_000, 1), spec)
    assert not prepared.warm
    evaluate(prepared, rows(50, 9))  # the first evaluation sorts the reference, on the pool
    assert prepared.warm
    for n in (1, 500, INLINE_ROWS - 1):
        window = rows(n, 2, shift=0.3)
        assert report(evaluate(prepared, window)) == report(evaluate(prepared, window, workers=2))
    with _Inline() as inline:
        failed = inline.submit(lambda: 1 / 0)
        assert list(inline.map(str, [1, 2])) == ["1", "2"]
    with pytest.raises(ZeroDivisionError):
        failed.result()
