"""vigil.verdict: the one place a status is decided, from measurements and the spec."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import model_logs

from vigil.evaluation import evaluate, infer_spec
from vigil.measure.performance import MetricChange
from vigil.spec import PerformanceOptions, Spec, Threshold
from vigil.verdict import STATUS_ORDER, at_most, change_status, evidence, level, worst

ROLES = {"target": "target", "prediction": "prediction", "scores": ["score"]}
levels = st.floats(0.0, 10.0, allow_nan=False)


@given(levels, levels, st.floats(-1.0, 20.0, allow_nan=False))
def test_level_is_monotone_in_the_value(a: float, b: float, value: float) -> None:
    limits = Threshold(min(a, b), max(a, b))
    higher = level(value + 1.0, limits)
    assert STATUS_ORDER[higher] >= STATUS_ORDER[level(value, limits)]
    below = Threshold(max(a, b), min(a, b), "below")  # p-values: smaller is worse
    assert STATUS_ORDER[level(value - 1.0, below)] >= STATUS_ORDER[level(value, below)]


def test_levels_are_reached_at_the_level() -> None:
    limits = Threshold(0.1, 0.2)
    assert [level(v, limits) for v in (0.0999, 0.1, 0.1999, 0.2)] == [
        "ok",
        "warning",
        "warning",
        "critical",
    ]
    by_p = Threshold(0.05, 0.001, "below")
    assert [level(p, by_p) for p in (0.05, 0.0499, 0.001, 0.000999)] == [
        "ok",
        "warning",
        "warning",
        "critical",
    ]


def test_evidence_caps_the_status_and_pending_ranks_between_ok_and_warning() -> None:
    assert evidence(0.04, 0.05) == "warning" and evidence(0.0009, 0.05) == "critical"
    assert evidence(0.06, 0.05) == "ok" and evidence(0.9, None) == "critical"
    assert at_most("critical", "warning") == "warning" and at_most("ok", "critical") == "ok"
    assert worst(["ok", "pending"]) == "pending" and worst(["pending", "warning"]) == "warning"
    assert worst([]) == "ok"


def change(ref: float, cur: float, se: float | None, *, higher: bool = True) -> MetricChange:
    return MetricChange("m", ref, cur, se, higher, higher)


def test_a_change_counts_only_when_large_and_beyond_its_standard_errors() -> None:
    spec = Spec((), performance=PerformanceOptions())
    # 0.942 -> 0.917 accuracy: 2.7% lower, but 43% more errors; 12.5 standard errors
    assert change_status(change(0.942, 0.917, 0.002), spec) == "critical"
    # large, but within the noise of a small window
    assert change_status(change(0.75, 0.70, 0.025), spec) == "ok"
    assert change_status(change(0.75, 0.66, 0.025), spec) == "warning"  # 3.6 SE
    assert change_status(change(0.75, 0.64, 0.025), spec) == "critical"  # 4.4 SE, 44% worse
    # many standard errors, but practically nothing (a million rows)
    assert change_status(change(0.90, 0.8995, 0.0001), spec) == "ok"
    # lower is better: a loss 8% higher at 5 SE is a warning, not critical
    assert change_status(change(0.30, 0.324, 0.0048, higher=False), spec) == "warning"
    # better is never a finding
    assert change_status(change(0.8, 0.9, 0.01), spec) == "ok"
    # without a standard error the practical size decides alone
    assert change_status(change(0.8, 0.7, None), spec) == "critical"


@given(
    st.floats(0.05, 0.99),
    st.floats(-0.2, 0.2),
    st.floats(1e-4, 0.1),
)
def test_a_change_status_never_exceeds_what_its_standard_errors_allow(
    ref: float, delta: float, se: float
) -> None:
    spec = Spec((), performance=PerformanceOptions())
    c = change(ref, min(1.0, max(0.0, ref - delta)), se)
    status = change_status(c, spec)
    z = c.z if c.z is not None else math.inf
    if z < 3.0 or c.relative < 0.05:
        assert status == "ok"
    if status == "critical":
        assert z >= 4.0 and c.relative >= 0.10


def labelled_share(table: pa.Table, share: float, seed: int) -> pa.Table:
    """The table with the target of all but `share` of its rows removed (labels not yet in)."""
    keep = np.random.default_rng(seed).random(table.num_rows) < share
    target = pc.if_else(pa.array(keep), table.column("target"), pa.scalar(None, pa.int64()))
    return table.set_column(table.column_names.index("target"), "target", target)


def test_a_current_set_without_labels_is_pending_not_failed() -> None:
    reference, current = model_logs(5000, seed=1), model_logs(5000, seed=2)
    spec = infer_spec(reference, **ROLES)
    report = evaluate(reference, current.drop_columns(["target"]), spec)
    assert report.status == "pending"
    assert not [c for c in report.checks if c.status in ("warning", "critical")]
    assert report.check("schema.missing_column", "target") is None
    coverage = report.check("label_coverage")
    assert coverage is not None and coverage.status == "pending" and coverage.value == 0.0
    assert report.check("performance.roc_auc").status == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize("share", [0.0, 0.01, 0.6, 1.0])
def test_a_partly_labelled_set_is_judged_on_its_labelled_rows(share: float) -> None:
    reference, current = model_logs(5000, seed=3), model_logs(5000, seed=4)
    spec = infer_spec(reference, **ROLES)
    report = evaluate(reference, labelled_share(current, share, seed=5), spec)
    assert report.check("missing_share", "target") is None  # coverage judges the target's gaps
    assert not [c for c in report.checks if c.status in ("warning", "critical")]
    coverage = report.check("label_coverage")
    assert coverage is not None
    assert coverage.value == pytest.approx(share, abs=0.03)
    labelled = report.performance.current.rows if report.performance.current else 0  # type: ignore[union-attr]
    expected = "pending" if labelled < spec.performance.min_labelled else "ok"
    assert coverage.status == expected
    assert report.check("performance.accuracy").status == expected  # type: ignore[union-attr]
    if labelled:  # the metrics are those of the labelled rows alone
        rows = current.filter(pc.is_valid(labelled_share(current, share, 5).column("target")))
        accuracy = float(np.mean(rows["target"].to_numpy() == rows["prediction"].to_numpy()))
        assert report.performance.current.metrics["accuracy"] == pytest.approx(accuracy)  # type: ignore[union-attr]


def _score_out_of_range(table: pa.Table) -> pa.Table:
    scores = table.column("score").to_numpy().copy()
    scores[0] = 1.5  # one score that is not a probability: what a buggy client may log
    return table.set_column(table.column_names.index("score"), "score", pa.array(scores))


def test_one_score_beyond_0_1_leaves_the_window_judged_and_says_why_log_loss_is_not() -> None:
    """Failed before: log loss's standard error raised on it, so evaluate raised and the
    service's window failed again on every retry, whatever its other rows held."""
    reference, current = model_logs(3000, seed=11), model_logs(3000, seed=12)
    spec = infer_spec(reference, **ROLES)
    report = evaluate(reference, _score_out_of_range(current), spec)
    log_loss = report.check("performance.log_loss")
    assert log_loss is not None and log_loss.status == "warning"
    assert "not computable now" in log_loss.message and "[0, 1]" in log_loss.message
    auc = report.check("performance.roc_auc")
    assert auc is not None and auc.status == "ok" and auc.value is not None
    # the same score in the reference: the metric is not judged at all, nothing raises
    report = evaluate(_score_out_of_range(reference), current, spec)
    assert report.check("performance.log_loss") is None
    assert report.check("performance.roc_auc").status == "ok"  # type: ignore[union-attr]


def test_min_labelled_comes_from_the_spec() -> None:
    reference, current = model_logs(2000, seed=6), model_logs(2000, seed=7)
    spec = infer_spec(reference, **ROLES)
    few = labelled_share(current, 0.1, seed=8)  # about 200 labelled rows
    assert evaluate(reference, few, spec).check("label_coverage").status == "ok"  # type: ignore[union-attr]
    strict = Spec(spec.columns, spec.task, performance=PerformanceOptions(min_labelled=500))
    assert evaluate(reference, few, strict).check("label_coverage").status == "pending"  # type: ignore[union-attr]


def test_every_check_names_the_metric_point_it_judged() -> None:
    reference, current = model_logs(3000, seed=9), model_logs(3000, seed=10, shift=0.5)
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    for check in report.checks:
        family = check.metric.split(".")[0]
        assert family in (
            "drift",
            "quality",
            "schema",
            "performance",
            "estimated",
            "multivariate",
        ), check
        if check.name == "drift":
            assert check.metric == f"drift.{report.drift.columns[check.column].method}"  # type: ignore[index]
        if check.name.startswith(("performance.", "estimated.")):
            assert check.metric == check.name
    drifted = [c for c in report.checks if c.name == "drift" and c.status != "ok"]
    assert {c.column for c in drifted} >= {"x1", "x2"}
