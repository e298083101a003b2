"""vigil.summaries: mergeable summaries give the report the rows give.

The reference is given to both paths as the same profile, so every difference between
`evaluate(profile, table, spec)` and `evaluate_summary(profile, summary, spec)` comes from the
current side being a summary instead of rows.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tests.conftest import model_logs

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.evaluation import evaluate, infer_spec, profile_dataset
from vigil.profile import CategoricalProfile, DatasetProfile, NumericProfile
from vigil.report.model import Report
from vigil.spec import Spec, spec_from_dict
from vigil.spec.methods import DRIFT_METHODS
from vigil.summaries import (
    NOT_FROM_SUMMARY,
    ReferenceSketch,
    Summary,
    evaluate_summary,
    reference_profile,
)

COUNT_METHODS = {name for name, m in DRIFT_METHODS.items() if m.input == "counts"}
# Not measured from a summary (the report's notes say so), or measured another way.
UNMEASURED_CHECKS = {"duplicate_rows", "duplicate_ids"}
# Metrics whose standard error a summary computes another way than the rows' bootstrap (the
# delta method, or a bootstrap of the binned scores): their status may differ at a border,
# so their errors are compared instead (assert_same_performance).
OTHER_ERRORS = {"performance.f1", "performance.f1_macro", "performance.r2", "performance.pr_auc"}


# --- data sets ---------------------------------------------------------------------------------


def _split(frame: pa.Table, seed: int) -> tuple[pa.Table, pa.Table]:
    order = np.random.default_rng(seed).permutation(frame.num_rows)
    half = frame.num_rows // 2
    return frame.take(order[:half]), frame.take(order[half:])


def breast_cancer() -> tuple[pa.Table, Spec]:
    data = load_breast_cancer()
    x, y = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[::2], y[::2])
    columns = {name.replace(" ", "_"): x[:, i] for i, name in enumerate(data.feature_names[:12])}
    table = pa.table(
        {
            **columns,
            "target": y.astype(np.int64),
            "score": model.predict_proba(x)[:, 1],
            "prediction": model.predict(x).astype(np.int64),
        }
    )
    return table, infer_spec(table, target="target", prediction="prediction", scores=["score"])


def wine() -> tuple[pa.Table, Spec]:
    data = load_wine()
    x, y = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[::2], y[::2])
    proba = model.predict_proba(x)
    labels = np.array(["a", "b", "c"])
    table = pa.table(
        {
            **{name: x[:, i] for i, name in enumerate(data.feature_names)},
            "target": labels[y],
            "prediction": labels[model.predict(x)],
            "score_a": proba[:, 0],
            "score_b": proba[:, 1],
            "score_c": proba[:, 2],
        }
    )
    spec = infer_spec(
        table, target="target", prediction="prediction", scores=["score_a", "score_b", "score_c"]
    )
    return table, spec


def diabetes() -> tuple[pa.Table, Spec]:
    data = load_diabetes()
    x, y = data.data, data.target
    model = LinearRegression().fit(x[::2], y[::2])
    table = pa.table(
        {
            **{name: x[:, i] for i, name in enumerate(data.feature_names)},
            "target": y,
            "prediction": model.predict(x),
        }
    )
    return table, infer_spec(table, target="target", prediction="prediction")


DATA_SETS = {"breast_cancer": breast_cancer, "wine": wine, "diabetes": diabetes}


def shifted(table: pa.Table, spec: Spec) -> pa.Table:
    """The set with two features moved, a few values missing, and worse predictions."""
    rng = np.random.default_rng(7)
    features = [c.name for c in spec.with_role("feature") if c.kind == "numeric"]
    out = table
    for name in features[:2]:
        values = np.asarray(out.column(name).to_numpy(), dtype=np.float64)
        moved = values * 1.5 + np.std(values)
        moved[rng.random(values.size) < 0.05] = np.nan
        out = out.set_column(out.schema.get_field_index(name), name, pa.array(moved))
    prediction = spec.single("prediction")
    if prediction is not None:
        column = out.column(prediction.name).to_numpy(zero_copy_only=False)
        scrambled = column.copy()
        flip = rng.random(column.size) < 0.3
        scrambled[flip] = rng.permutation(column)[flip]
        out = out.set_column(
            out.schema.get_field_index(prediction.name), prediction.name, pa.array(scrambled)
        )
    return out


def summary_of(
    table: pa.Table, like: DatasetProfile, spec: Spec, *, batch_rows: int = 37
) -> Summary:
    summary = Summary.empty(like, spec)
    for batch in table.to_batches(max_chunksize=batch_rows):
        summary.add(batch)
    return summary


def two_pass_profile(table: pa.Table, spec: Spec, *, batch_rows: int = 53) -> DatasetProfile:
    sketch = ReferenceSketch.empty(spec)
    for batch in table.to_batches(max_chunksize=batch_rows):
        sketch.add(batch)
    summary = Summary.empty(sketch.layout(), spec)
    for batch in table.to_batches(max_chunksize=batch_rows):
        summary.add(batch)
    return reference_profile(sketch, summary, spec, source="reference")


# --- comparing two reports ----------------------------------------------------------------------


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def assert_same_report(rows: Report, summary: Report) -> None:
    """The summary's report equals the rows' report wherever a summary measures."""
    statuses = {(c.name, c.column): c.status for c in rows.checks}
    from_summary = {(c.name, c.column): c.status for c in summary.checks}
    assert set(from_summary) <= set(statuses)
    dropped = {key for key in statuses if key not in from_summary}
    assert {name for name, _ in dropped} <= UNMEASURED_CHECKS | {"performance.roc_auc"}
    for key, status in from_summary.items():
        if key[0] not in OTHER_ERRORS:
            assert status == statuses[key], key
    assert rows.current.rows == summary.current.rows
    for name, mine in rows.drift.columns.items():
        theirs = summary.drift.columns[name]
        assert theirs.error == mine.error
        assert set(theirs.metrics) == set(mine.metrics)
        for metric, value in mine.metrics.items():
            if metric in COUNT_METHODS or metric.removesuffix("_p_value") in COUNT_METHODS:
                assert theirs.metrics[metric] == value, (name, metric)  # exact: same counts
            else:  # profile approximations: the same up to rounding of the merged sums
                assert _close(theirs.metrics[metric], value), (name, metric)
        assert theirs.approximate == mine.approximate
        assert _close(theirs.p_value_adjusted, mine.p_value_adjusted)
    for name, mine_q in rows.quality.columns.items():
        theirs_q = summary.quality.columns[name]
        for attribute in (
            "missing_share",
            "type_mismatches",
            "infinite_share",
            "out_of_range_share",
            "outlier_share",
            "unseen_share",
            "n_unseen_categories",
            "unseen_categories",
            "is_constant",
            "range_low",
            "range_high",
        ):
            assert getattr(theirs_q, attribute) == getattr(mine_q, attribute), (name, attribute)
        assert set(theirs_q.p_values) == set(mine_q.p_values)
        for check, p in mine_q.p_values.items():
            assert _close(theirs_q.p_values[check], p), (name, check)
        for stat in ("min", "max", "distinct", "top", "top_share"):
            if stat in mine_q.current_stats:
                assert theirs_q.current_stats[stat] == mine_q.current_stats[stat]
        for stat in ("mean", "std"):
            if stat in mine_q.current_stats:
                assert _close(theirs_q.current_stats[stat], mine_q.current_stats[stat])  # type: ignore[arg-type]


def assert_same_performance(rows: Report, summary: Report, *, ties: float = 0.0) -> None:
    assert rows.performance is not None and summary.performance is not None
    mine, theirs = rows.performance.current, summary.performance.current
    assert mine is not None and theirs is not None
    assert theirs.rows == mine.rows
    assert theirs.confusion == mine.confusion
    for metric, value in mine.metrics.items():
        if metric in ("roc_auc", "pr_auc", "ece") and theirs.metrics.get(metric) is None:
            assert theirs.errors[metric] == NOT_FROM_SUMMARY  # multiclass: said, not guessed
            assert rows.performance.task == "multiclass"
            continue
        if metric in ("roc_auc", "pr_auc") and metric in theirs.metrics:
            assert value is not None and theirs.metrics[metric] is not None
            if metric == "roc_auc":  # binned scores: within half the tied pairs' share
                assert abs(theirs.metrics[metric] - value) <= ties / 2 + 1e-12
            continue
        if metric not in theirs.metrics:
            continue
        assert _close(theirs.metrics[metric], value, 1e-9), metric
    for metric in ("accuracy", "log_loss", "brier", "mae", "rmse"):
        if metric in mine.standard_errors:
            assert _close(theirs.standard_errors[metric], mine.standard_errors[metric], 1e-6)
    for metric in ("f1", "f1_macro", "r2", "pr_auc"):
        if metric in mine.standard_errors and mine.standard_errors[metric] > 0:
            # another estimator of the same error (the rows' bootstrap is itself noisy)
            ratio = theirs.standard_errors[metric] / mine.standard_errors[metric]
            assert 0.6 < ratio < 1.6, (metric, ratio)


# --- the report from a summary is the report from rows -----------------------------------------


@pytest.mark.parametrize("name", sorted(DATA_SETS))
@pytest.mark.parametrize("shift", [False, True])
def test_summary_report_equals_rows_report(name: str, shift: bool) -> None:
    table, spec = DATA_SETS[name]()
    reference, current = _split(table, seed=1)
    if shift:
        current = shifted(current, spec)
    profile = profile_dataset(reference, spec)
    rows = evaluate(profile, current, spec)
    summary = evaluate_summary(profile, summary_of(current, profile, spec), spec, source="current")
    assert_same_report(rows, summary)
    assert_same_performance(rows, summary, ties=0.01)
    if shift:
        assert summary.status != "ok"


def test_binned_auc_is_within_its_stated_bound() -> None:
    from vigil.summaries import _labels, score_ties

    reference, current = model_logs(4000, seed=1), model_logs(4000, seed=2, shift=0.5)
    spec = infer_spec(reference, target="target", prediction="prediction", scores=["score"])
    profile = profile_dataset(reference, spec)
    summary = summary_of(current, profile, spec, batch_rows=999)
    ties = score_ties(summary.performance, _labels(spec, summary.performance))
    rows = evaluate(profile, current, spec)
    assert_same_performance(rows, evaluate_summary(profile, summary, spec, source="c"), ties=ties)
    assert 0 < ties < 0.01


def test_two_pass_reference_gives_the_rows_report_and_no_alarm_on_an_unshifted_split() -> None:
    table, spec = breast_cancer()
    reference, current = _split(table, seed=4)
    profile = two_pass_profile(reference, spec)
    assert profile.rows == reference.num_rows
    rows = evaluate(profile, current, spec)
    summary = evaluate_summary(profile, summary_of(current, profile, spec), spec, source="c")
    assert_same_report(rows, summary)
    drifted = [c for c in summary.drift.columns if summary.drift_status(c) != "ok"]
    assert drifted == []
    # its counts are exact: the reference's rows on its own (sketch) edges
    for col in spec.columns:
        found = profile.columns[col.name]
        if isinstance(found, NumericProfile):
            values = np.sort(np.asarray(reference.column(col.name).to_numpy(), dtype=np.float64))
            expected = np.diff(
                np.concatenate(([0], np.searchsorted(values, found.edges, "right"), [values.size]))
            )
            assert found.counts.tolist() == expected.tolist()
            assert found.min == values[0] and found.max == values[-1]


def test_two_pass_reference_keeps_the_reference_performance() -> None:
    table, spec = diabetes()
    reference, _ = _split(table, seed=2)
    two_pass = two_pass_profile(reference, spec)
    in_memory = profile_dataset(reference, spec)
    for metric in ("mae", "rmse", "mape", "r2", "mean_error", "se.mae", "se.rmse"):
        assert _close(two_pass.performance[metric], in_memory.performance[metric], 1e-9), metric
    assert two_pass.performance["rows"] == in_memory.performance["rows"]


def test_unshifted_split_of_model_logs_raises_no_drift_alarm() -> None:
    table = model_logs(20_000, seed=5)
    reference, current = _split(table, seed=6)
    spec = infer_spec(reference, target="target", prediction="prediction", scores=["score"])
    profile = two_pass_profile(reference, spec, batch_rows=4096)
    report = evaluate_summary(
        profile, summary_of(current, profile, spec, batch_rows=4096), spec, source="c"
    )
    assert [c for c in report.drift.columns if report.drift_status(c) != "ok"] == []
    assert report.check("dataset_drift") is not None
    assert report.check("duplicate_rows") is None  # not measured: no false "ok"
    assert any("Not measured from a summary" in note for note in report.notes)


def test_quality_from_summary_sees_missing_infinite_mismatched_and_out_of_range_values() -> None:
    reference = pa.table({"x": np.arange(1000.0), "c": ["a", "b"] * 500, "f": ["true"] * 1000})
    spec = spec_from_dict(
        {
            "columns": {
                "x": {"kind": "numeric", "bounds": [0, 900]},
                "c": {"kind": "categorical"},
                "f": {"kind": "boolean"},
            }
        }
    )
    current = pa.table(
        {
            "x": pa.array(["5", "x", None, "inf", "2000", "-3", "nan", "7"] * 50),
            "c": ["a", "z", None, "b"] * 100,
            "f": ["true", "maybe", "0", None] * 100,
        }
    )
    profile = profile_dataset(reference, spec)
    rows = evaluate(profile, current, spec)
    summary = evaluate_summary(
        profile, summary_of(current, profile, spec, batch_rows=7), spec, source="c"
    )
    assert_same_report(rows, summary)
    x = summary.quality.columns["x"]
    assert x.type_mismatches == 50 and x.out_of_range_share == pytest.approx(100 / 200)
    assert summary.quality.columns["f"].type_mismatches == 100


# --- merging -----------------------------------------------------------------------------------


def _profile_and_rows() -> tuple[DatasetProfile, pa.Table, Spec]:
    reference, current = model_logs(800, seed=11), model_logs(600, seed=12, shift=0.3)
    spec = infer_spec(reference, target="target", prediction="prediction", scores=["score"])
    return profile_dataset(reference, spec), current, spec


PROFILE, ROWS, SPEC = _profile_and_rows()


def assert_same_summary(a: Summary, b: Summary) -> None:
    """Counts exactly, moments to rounding."""
    assert a.rows == b.rows
    assert a.mismatches == b.mismatches
    assert a.outside == b.outside
    for name, mine in a.columns.items():
        theirs = b.columns[name]
        if isinstance(mine, CategoricalProfile):
            assert mine == theirs
            continue
        assert isinstance(theirs, NumericProfile)
        assert (mine.count, mine.missing, mine.infinite, mine.outliers) == (
            theirs.count,
            theirs.missing,
            theirs.infinite,
            theirs.outliers,
        )
        assert mine.counts.tolist() == theirs.counts.tolist()
        assert mine.fine_counts.tolist() == theirs.fine_counts.tolist()
        assert _close(mine.min, theirs.min) and _close(mine.max, theirs.max)
        assert _close(mine.mean, theirs.mean) and _close(mine.m2, theirs.m2, 1e-7)
        assert np.allclose(mine.fine_offsets, theirs.fine_offsets, rtol=1e-9, atol=1e-9)
    pa_, pb = a.performance, b.performance
    assert (pa_.pairs, pa_.classes, pa_.bad_scores) == (pb.pairs, pb.classes, pb.bad_scores)
    assert pa_.histograms.keys() == pb.histograms.keys()
    for key, counts in pa_.histograms.items():
        assert counts.tolist() == pb.histograms[key].tolist()
    for key, sums in pa_.losses.items():
        for loss, m in sums.items():
            other = pb.losses[key][loss]
            assert m.n == other.n and _close(m.mean, other.mean) and _close(m.m2, other.m2, 1e-7)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, ROWS.num_rows), max_size=5), order=st.randoms())
def test_merging_the_summaries_of_any_split_is_the_summary_of_all_rows(
    cuts: list[int], order: object
) -> None:
    whole = summary_of(ROWS, PROFILE, SPEC, batch_rows=ROWS.num_rows)
    bounds = sorted({0, ROWS.num_rows, *cuts})
    parts = []
    for start, stop in itertools.pairwise(bounds):
        part = Summary.empty(PROFILE, SPEC)
        part.add(ROWS.slice(start, stop - start))
        parts.append(part)
    parts.append(Summary.empty(PROFILE, SPEC))  # a partition without rows merges too
    order.shuffle(parts)  # type: ignore[attr-defined]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert_same_summary(merged, whole)


def test_merge_is_associative_and_commutative_and_leaves_its_parts_alone() -> None:
    a, b, c = (summary_of(ROWS.slice(i * 200, 200), PROFILE, SPEC) for i in range(3))
    before = a.to_bytes()
    assert_same_summary(a.merge(b).merge(c), a.merge(b.merge(c)))
    assert_same_summary(a.merge(b), b.merge(a))
    assert a.to_bytes() == before


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(0, 600), batch=st.integers(20, 300))
def test_bytes_round_trip(rows: int, batch: int) -> None:
    summary = summary_of(ROWS.slice(0, rows), PROFILE, SPEC, batch_rows=batch)
    data = summary.to_bytes()
    back = Summary.from_bytes(data)
    assert back.to_bytes() == data
    assert_same_summary(back, summary)
    sketch = ReferenceSketch.empty(SPEC)
    for part in ROWS.slice(0, max(rows, 1)).to_batches(max_chunksize=batch):
        sketch.add(part)
    again = ReferenceSketch.from_bytes(sketch.to_bytes())
    assert again.to_bytes() == sketch.to_bytes()
    layout, expected = again.layout(), sketch.layout()
    for name, column in expected.items():
        if isinstance(column, NumericProfile):
            found = layout[name]
            assert isinstance(found, NumericProfile)
            assert found.edges.tolist() == column.edges.tolist()
            assert found.fences == column.fences


# --- hostile input -----------------------------------------------------------------------------

GOOD = summary_of(ROWS, PROFILE, SPEC).to_bytes()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 64,
        b"PAR1" + b"\x00" * 100,
        GOOD[: len(GOOD) // 2],  # truncated
        GOOD[:-1],
        GOOD.replace(b"vigil-summary 1\n", b"vigil-summary 2\n", 1),  # another version
        GOOD.replace(b"vigil-summary 1\n", b"vigil-summary x\n", 1),
        b"vigil-summary 1\n[1, 2, 3]",
        b"vigil-summary 1\n{}",
        b"vigil-summary 1\n" + b"\xff\xfe" * 10,
        b'vigil-summary 1\n{"rows": NaN}',
        GOOD.replace(b'"rows":', b'"rows":-', 1),
        GOOD.replace(b'"fine_counts":[', b'"fine_counts":[-1,', 1),
        GOOD.replace(b'"sketch":"', b'"sketch":"AAAA', 1),
        GOOD.replace(b'"pairs":[[', b'"pairs":[[1,', 1),
        ReferenceSketch.empty(SPEC).to_bytes(),  # a sketch is not a summary
    ],
)
def test_hostile_bytes_are_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(InputError) as err:
        Summary.from_bytes(data)
    assert "summary" in str(err.value)


def test_a_summary_whose_counts_disagree_with_its_rows_is_refused() -> None:
    tampered = GOOD.replace(b'"rows":600', b'"rows":601', 1)
    assert tampered != GOOD
    with pytest.raises(InputError, match="counts 600 rows, not 601"):
        Summary.from_bytes(tampered)


@pytest.mark.parametrize(
    "data", [b"", GOOD, b"vigil-reference-sketch 1\n{}", b"vigil-reference-sketch 9\n{}"]
)
def test_hostile_sketch_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="sketch"):
        ReferenceSketch.from_bytes(data)


def test_summaries_built_like_other_references_do_not_merge_or_evaluate() -> None:
    other = profile_dataset(model_logs(500, seed=99, shift=1.0), SPEC)
    mine = summary_of(ROWS, PROFILE, SPEC)
    theirs = summary_of(ROWS, other, SPEC)
    with pytest.raises(InputError, match="not built like the same reference"):
        mine.merge(theirs)
    with pytest.raises(InputError, match="not built like the reference profile"):
        evaluate_summary(PROFILE, theirs, SPEC, source="c")


def test_a_batch_lacking_a_column_and_a_non_batch_are_refused() -> None:
    summary = Summary.empty(PROFILE, SPEC)
    summary.add(ROWS.slice(0, 10))
    with pytest.raises(InputError, match="lacks the column 'x1'"):
        summary.add(ROWS.drop_columns(["x1"]).slice(10, 10))
    with pytest.raises(InputError, match="record batches"):
        summary.add({"x1": [1.0]})  # type: ignore[arg-type]


def test_an_empty_current_summary_and_an_empty_reference_are_refused() -> None:
    with pytest.raises(NotEnoughData, match="no rows"):
        evaluate_summary(PROFILE, Summary.empty(PROFILE, SPEC), SPEC, source="c")
    with pytest.raises(NotEnoughData, match="no rows"):
        ReferenceSketch.empty(SPEC).layout()
    sketch = ReferenceSketch.empty(SPEC)
    empty_x1 = ROWS.slice(0, 20).set_column(0, "x1", pa.nulls(20, pa.float64()))
    sketch.add(empty_x1)
    with pytest.raises(NotEnoughData, match="'x1' has no usable value"):
        sketch.layout()


def test_a_column_with_too_many_categories_is_refused() -> None:
    spec = spec_from_dict({"columns": {"id": {"kind": "categorical"}}})
    sketch = ReferenceSketch.empty(spec, max_categories=100)
    sketch.add(pa.table({"id": [str(i) for i in range(60)]}))
    with pytest.raises(InputError, match="more than 100 distinct values"):
        sketch.add(pa.table({"id": [str(i) for i in range(60, 120)]}))


def test_a_spec_column_the_reference_lacks_is_refused() -> None:
    spec = spec_from_dict({"columns": {"x1": {"kind": "numeric"}, "nope": {"kind": "numeric"}}})
    with pytest.raises(SpecError, match="'nope'"):
        Summary.empty(PROFILE, spec)
    with pytest.raises(SpecError, match="'nope'"):
        ReferenceSketch.empty(spec).add(ROWS)
