"""Rules from YAML: the documented forms parse to what they say, and every mistake is a
ConfigError that names the rule and the key."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vigil.alerts import Change, Control, Hold, Levels, Status, Threshold, parse_rules
from vigil.alerts.metrics import column_metrics, dataset_metrics
from vigil.errors import ConfigError

EXAMPLE = """
- name: feature-psi
  metric: drift.psi
  columns: "*"
  above: {warning: 0.1, critical: 0.25}
- name: accuracy-floor
  metric: performance.accuracy
  models: [credit]
  below: {warning: 0.95, critical: 0.90}
  for: 3
- name: auc-vs-reference
  metric: performance.roc_auc
  change: {against: reference, down: {warning: 0.05, critical: 0.10}}
- name: drifted-share-wow
  metric: drift.share_drifted
  change: {against: 7d, up: {warning: 0.5}}
  for: 2h
- name: latency-band
  metric: ops.latency_p99_ms
  control: {sigmas: {warning: 3, critical: 4}, windows: 48, min_history: 12}
  resolve_after: 3
- name: verdict-on-score
  metric: drift.ks
  columns: [score]
  segments: "*"
  status: critical
"""


def test_the_documented_forms_parse_to_what_they_say() -> None:
    rules = {r.name: r for r in parse_rules(yaml.safe_load(EXAMPLE))}
    psi = rules["feature-psi"]
    assert psi.when == Threshold(Levels(0.1, 0.25, "above"))
    assert psi.scope.columns is None and psi.scope.segments == ("",)
    assert not psi.needs_history
    acc = rules["accuracy-floor"]
    assert acc.when == Threshold(Levels(0.95, 0.90, "below"))
    assert acc.scope.models == ("credit",) and acc.scope.columns == ("",)
    assert acc.hold == Hold(evaluations=3)
    assert rules["auc-vs-reference"].when == Change("reference", Levels(0.05, 0.10), up=False)
    wow = rules["drifted-share-wow"]
    assert wow.when == Change(7 * 86400, Levels(0.5, None), up=True)
    assert wow.hold == Hold(seconds=7200) and wow.needs_history
    band = rules["latency-band"]
    assert band.when == Control(Levels(3.0, 4.0), windows=48, min_history=12)
    assert band.resolve_after == 3 and band.needs_history
    score = rules["verdict-on-score"]
    assert score.when == Status("critical")
    assert score.scope.columns == ("score",) and score.scope.segments is None


def test_every_metric_in_the_catalogue_is_accepted() -> None:
    for metric in sorted(column_metrics() | dataset_metrics()):
        (rule,) = parse_rules([{"name": "r", "metric": metric, "above": 1}])
        assert rule.metric == metric


BAD: list[tuple[Any, str]] = [
    ({"metric": "drift.psi", "above": 0.1}, "name: None is not a rule name"),
    ({"name": "a b", "metric": "drift.psi", "above": 0.1}, "'a b' is not a rule name"),
    ({"name": "r", "metric": "drift.pci", "above": 0.1}, "rule 'r'.metric: 'drift.pci' is not"),
    ({"name": "r", "metric": "drift.pci", "above": 0.1}, "did you mean drift.psi"),
    ({"name": "r", "metric": 3, "above": 0.1}, "rule 'r'.metric: expected a metric name"),
    ({"name": "r", "metric": "drift.psi"}, "give exactly one of above, below"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "below": 2}, "(found above, below)"),
    ({"name": "r", "metric": "drift.psi", "above": "high"}, "rule 'r'.above: expected"),
    ({"name": "r", "metric": "drift.psi", "above": {"warning": "0.1"}}, "above.warning: expected"),
    ({"name": "r", "metric": "drift.psi", "above": {"warning": True}}, "above.warning: expected"),
    ({"name": "r", "metric": "drift.psi", "above": {}}, "give a warning level, a critical"),
    (
        {"name": "r", "metric": "drift.psi", "above": {"warning": 0.3, "critical": 0.1}},
        "critical level 0.1 must be at or above the warning level 0.3",
    ),
    (
        {"name": "r", "metric": "performance.accuracy", "below": {"warning": 0.8, "critical": 0.9}},
        "must be at or below the warning level 0.8",
    ),
    ({"name": "r", "metric": "drift.psi", "above": {"warn": 1}}, "unknown key(s) warn"),
    ({"name": "r", "metric": "drift.psi", "above": float("nan")}, "finite numbers"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "colums": "*"}, "unknown key(s) colums"),
    ({"name": "r", "metric": "ops.count", "above": 1, "columns": ["x"]}, "leave columns out"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "columns": 3}, "r'.columns: expected"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "for": "soon"}, "r'.for: 'soon' is not a"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "for": 0}, "r'.for: expected a whole"),
    ({"name": "r", "metric": "drift.psi", "above": 1, "resolve_after": 1.5}, "resolve_after"),
    ({"name": "r", "metric": "drift.psi", "status": "high"}, "r'.status: expected warning or"),
    (
        {"name": "r", "metric": "ops.count", "change": {"up": 0.1, "down": 0.1}},
        "give exactly one of up or down",
    ),
    ({"name": "r", "metric": "ops.count", "change": {"up": -0.1}}, "above 0 (0.05 = 5%)"),
    (
        {"name": "r", "metric": "ops.count", "change": {"against": "lastweek", "up": 0.1}},
        "against: expected reference, previous or a duration",
    ),
    ({"name": "r", "metric": "ops.count", "change": 0.5}, "r'.change: expected a mapping"),
    (
        {"name": "r", "metric": "ops.count", "control": {"windows": 5, "min_history": 6}},
        "min_history: expected 2 to windows (5)",
    ),
    ({"name": "r", "metric": "ops.count", "control": {"sigmas": 0}}, "k must be above 0"),
    ({"name": "r", "metric": "ops.count", "control": {"k": 3}}, "unknown key(s) k"),
]


@pytest.mark.parametrize(("item", "words"), BAD)
def test_each_mistake_is_an_error_naming_the_rule_and_the_key(item: Any, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules([item])
    assert words in str(caught.value)


def test_the_list_itself_and_repeated_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="expected a list of rules"):
        parse_rules({"name": "r"})
    with pytest.raises(ConfigError, match=r"\[1\]: expected a mapping"):
        parse_rules([{"name": "r", "metric": "ops.count", "above": 1}, "r"])
    twice = [{"name": "r", "metric": "ops.count", "above": 1}] * 2
    with pytest.raises(ConfigError, match="two rules are named 'r'"):
        parse_rules(twice)
    assert parse_rules(None) == ()
