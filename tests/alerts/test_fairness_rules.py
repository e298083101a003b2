"""Rules on fairness points: the measure names and the `fairness` family parse, and judge the
points a report with a protected attribute gives (the column is the attribute)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.test_fairness import model_set, spec_of

from vigil.alerts.judge import judge
from vigil.alerts.rules import parse_rules
from vigil.errors import ConfigError
from vigil.evaluation import evaluate
from vigil.monitor.points import report_points

T0 = datetime(2026, 1, 5)


def test_rules_on_fairness_measures_and_family_judge_a_reports_points() -> None:
    rules = parse_rules(
        [
            {"name": "di", "metric": "fairness.disparate_impact", "below": {"warning": 0.9}},
            {"name": "fair", "metric": "fairness", "status": "warning"},
        ]
    )
    report = evaluate(model_set(2000, 1), model_set(1500, 5, drop=0.5), spec_of(min_group_size=30))
    points = report_points(
        report, version="1", kind="tumbling", segment="", start=T0, end=T0 + timedelta(hours=1)
    )
    fairness = [p for p in points if p.metric.startswith("fairness.")]
    assert {p.column for p in fairness} == {"group"}
    assert {p.metric for p in fairness} >= {
        "fairness.disparate_impact",
        "fairness.demographic_parity_ratio",  # measured, not judged: status none
    }
    assert all(p.band is not None for p in fairness if p.status != "none")
    found = judge(rules, "m", points, roles={"group": "segment"})
    assert {(f.rule, f.point.column) for f in found} == {("di", "group"), ("fair", "group")}


def test_a_misspelt_fairness_metric_is_refused_with_the_close_names() -> None:
    with pytest.raises(ConfigError, match=r"did you mean fairness\.disparate_impact"):
        parse_rules([{"name": "x", "metric": "fairness.disparate_impct", "below": {"warning": 1}}])
