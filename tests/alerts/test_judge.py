"""Rules judged on metric points: on reports of data nobody here wrote (NannyML's car-loan
example, scikit-learn's breast-cancer set), against numbers computed independently."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics
from tests.published import nannyml_analysis, nannyml_reference, sklearn_set

from vigil.alerts import judge, parse_rules, reference_values
from vigil.alerts.metrics import column_metrics, dataset_metrics
from vigil.evaluation import evaluate, infer_spec
from vigil.monitor.points import ops_points, report_points
from vigil.monitor.windows import operational
from vigil.store.base import MetricPoint

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc)


def points_of(report, start: datetime = T0) -> list[MetricPoint]:
    return report_points(
        report,
        version="1",
        kind="tumbling",
        segment="",
        start=start,
        end=start + timedelta(hours=1),
    )


def point(value: float | None, start: datetime = T0, metric: str = "ops.count") -> MetricPoint:
    return MetricPoint(
        "1", "tumbling", "", start, start + timedelta(hours=1), metric, "", value, "none"
    )


class Series:
    """Earlier windows of one metric, in memory: start -> value."""

    def __init__(self, values: dict[datetime, float]) -> None:
        self.values = values

    def before(self, model: str, p: MetricPoint, limit: int) -> list[float]:
        earlier = sorted((s for s in self.values if s < p.start), reverse=True)[:limit]
        return [self.values[s] for s in earlier]

    def at(self, model: str, p: MetricPoint, start: datetime) -> float | None:
        return self.values.get(start)


@pytest.fixture(scope="module")
def car_loan():
    reference, roles = nannyml_reference("car_loan")
    analysis = nannyml_analysis("car_loan")
    spec = infer_spec(reference, **roles)
    return reference, analysis, spec


def test_accuracy_down_against_the_reference_on_the_car_loan_drop(car_loan) -> None:
    """NannyML's example: accuracy falls from about 0.944 to 0.916 in the second half of its
    analysis set — about 3% of the reference's value."""
    reference, analysis, spec = car_loan
    later = evaluate(reference, analysis.slice(25_000), spec)
    rules = parse_rules(
        [
            {
                "name": "acc-2pc",
                "metric": "performance.accuracy",
                "change": {"down": {"warning": 0.02, "critical": 0.05}},
            },
            {"name": "acc-5pc", "metric": "performance.accuracy", "change": {"down": 0.05}},
            {"name": "acc-up", "metric": "performance.accuracy", "change": {"up": 0.01}},
        ]
    )
    refs = reference_values(later)
    y_ref = np.array(reference.column("repaid").to_pylist())
    pred_ref = np.array(reference.column("y_pred").to_pylist())
    assert refs[("performance.accuracy", "")] == pytest.approx(
        metrics.accuracy_score(y_ref, pred_ref)
    )
    found = {f.rule: f for f in judge(rules, "car", points_of(later), references=refs)}
    rows = analysis.slice(25_000)
    now = metrics.accuracy_score(
        np.array(rows.column("repaid").to_pylist()), np.array(rows.column("y_pred").to_pylist())
    )
    drop = (refs[("performance.accuracy", "")] - now) / refs[("performance.accuracy", "")]
    assert 0.02 < drop < 0.05
    assert found["acc-2pc"].severity == "warning"
    assert found["acc-2pc"].baseline == refs[("performance.accuracy", "")]
    assert found["acc-2pc"].point.value == pytest.approx(now)
    assert "down by at least 2% (warning)" in found["acc-2pc"].message
    assert found["acc-5pc"].severity is None and found["acc-up"].severity is None


def test_the_unchanged_half_breaches_no_rule_the_verdict_would_not(car_loan) -> None:
    """The first half of the analysis set is unshifted: a status rule on every drift measure
    and every performance metric finds nothing, and every finding is clear."""
    reference, analysis, spec = car_loan
    earlier = evaluate(reference, analysis.slice(0, 25_000), spec)
    rules = parse_rules(
        [
            {"name": f"s-{m}", "metric": m, "status": "warning"}
            for m in sorted(column_metrics() | dataset_metrics())
        ]
    )
    found = judge(rules, "car", points_of(earlier), references=reference_values(earlier))
    assert found, "the status rules judged nothing"
    assert [f.message for f in found if f.severity is not None] == []


def test_a_threshold_rule_on_every_feature_of_a_sorted_split() -> None:
    """scikit-learn's breast-cancer set split by tumour size: the larger half drifts on the
    size measures; the rule's findings are the points' own values against the levels."""
    data = sklearn_set("breast_cancer").sort_by("mean radius")
    small, large = data.slice(0, 284), data.slice(284)
    report = evaluate(small, large, target="target")
    (rule,) = parse_rules(
        [{"name": "psi", "metric": "drift.psi", "above": {"warning": 0.1, "critical": 0.25}}]
    )
    found = {f.point.column: f for f in judge([rule], "bc", points_of(report))}
    psi = {c: col.metrics["psi"] for c, col in report.drift.columns.items() if "psi" in col.metrics}
    assert set(found) == set(psi) and len(psi) >= 30
    for column, value in psi.items():
        expected = "critical" if value >= 0.25 else "warning" if value >= 0.1 else None
        assert found[column].severity == expected, column
    assert found["mean radius"].severity == "critical"


def test_every_point_a_window_makes_is_a_metric_a_rule_can_name(car_loan) -> None:
    reference, analysis, spec = car_loan
    window = analysis.slice(0, 2000)
    report = evaluate(reference, window, spec)
    table = pa.table(
        {
            "__latency_ms": pa.array(np.linspace(1, 50, 2000)),
            "__error": pa.array([None] * 1990 + ["boom"] * 10, pa.string()),
            "__label": pa.array([1.0] * 500 + [None] * 1500),
            "f": pa.array([1.0] * 2000),
        }
    )
    figures = operational(table, 3600.0, {"ops.count": [1800.0], "ops.missing_share": [0.0]}, ["f"])
    made = points_of(report) + ops_points(
        figures, version="1", kind="tumbling", segment="", start=T0, end=T0 + timedelta(hours=1)
    )
    known = column_metrics() | dataset_metrics()
    assert sorted({p.metric for p in made} - known) == []
    per_column = {p.metric for p in made if p.column}
    assert per_column <= column_metrics()


def test_change_against_the_previous_window_and_a_day_earlier() -> None:
    rules = parse_rules(
        [
            {"name": "prev", "metric": "ops.count", "change": {"against": "previous", "up": 0.5}},
            {"name": "day", "metric": "ops.count", "change": {"against": "1d", "down": 0.3}},
        ]
    )
    history = Series({T0 - timedelta(days=1): 1000.0, T0 - timedelta(hours=1): 400.0})
    found = {f.rule: f for f in judge(rules, "m", [point(650.0)], history=history)}
    assert found["prev"].severity == "warning" and found["prev"].baseline == 400.0
    assert found["day"].severity == "warning" and found["day"].baseline == 1000.0
    assert "1d earlier (-35.0%)" in found["day"].message
    # no earlier window, or a baseline of 0: no finding, so nothing opens or resolves
    assert judge(rules, "m", [point(650.0)], history=Series({})) == []
    zero = Series({T0 - timedelta(days=1): 0.0, T0 - timedelta(hours=1): 0.0})
    assert judge(rules, "m", [point(650.0)], history=zero) == []
    assert judge(rules, "m", [point(None)], history=history) == []


@settings(max_examples=200, deadline=None)
@given(
    earlier=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=40),
    value=st.floats(-1e7, 1e7),
    k=st.floats(0.5, 6),
)
def test_control_limits_match_numpy(earlier: list[float], value: float, k: float) -> None:
    (rule,) = parse_rules(
        [
            {
                "name": "c",
                "metric": "ops.count",
                "control": {
                    "sigmas": {"warning": k, "critical": k + 1},
                    "windows": 24,
                    "min_history": 5,
                },
            }
        ]
    )
    history = Series({T0 - timedelta(hours=i + 1): v for i, v in enumerate(earlier)})
    found = judge([rule], "m", [point(value)], history=history)
    used = np.array(earlier[:24])
    if used.size < 5 or np.std(used, ddof=1) == 0:
        assert found == []
        return
    (finding,) = found
    z = abs(value - used.mean()) / np.std(used, ddof=1)
    assert finding.baseline == pytest.approx(used.mean(), rel=1e-9, abs=1e-6)
    if not math.isclose(z, k, rel_tol=1e-9) and not math.isclose(z, k + 1, rel_tol=1e-9):
        expected = "critical" if z >= k + 1 else "warning" if z >= k else None
        assert finding.severity == expected


def test_scope_limits_models_versions_columns_and_segments() -> None:
    (rule,) = parse_rules(
        [
            {
                "name": "r",
                "metric": "drift.psi",
                "above": 0.1,
                "models": ["a"],
                "versions": ["1"],
                "columns": ["x"],
                "segments": ["", "region=north"],
            }
        ]
    )

    def p(version: str, column: str, segment: str) -> MetricPoint:
        return MetricPoint(version, "tumbling", segment, T0, T0, "drift.psi", column, 0.5, "none")

    cases = [
        ("a", p("1", "x", ""), True),
        ("a", p("1", "x", "region=north"), True),
        ("a", p("1", "x", "region=south"), False),
        ("a", p("1", "y", ""), False),
        ("a", p("2", "x", ""), False),
        ("b", p("1", "x", ""), False),
    ]
    for model, pt, judged in cases:
        assert bool(judge([rule], model, [pt])) == judged, (model, pt)
