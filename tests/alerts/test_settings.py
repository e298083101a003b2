"""The `alerts:` section of the config: what it parses to, the default rules, and every mistake
refused with the key that holds it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from vigil.alerts import judge, parse_rules
from vigil.alerts.rules import Status
from vigil.alerts.settings import Retry, default_rules, parse_alert_settings
from vigil.config import load_settings
from vigil.errors import ConfigError
from vigil.store.base import MetricPoint

T0 = datetime(2026, 11, 2, 10)


def point(metric: str, column: str, status: str, value: float | None = 0.3) -> MetricPoint:
    return MetricPoint(
        "1", "tumbling", "", T0, T0 + timedelta(hours=1), metric, column, value, status
    )


def test_the_documented_section_parses(tmp_path: Any) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(
        """
alerts:
  rules:
    - {name: psi-tiers, metric: drift.psi, above: {warning: 0.1, critical: 0.25}}
  allow: [hooks.example.org]
  notify:
    - name: ops
      webhook: {url: "https://hooks.example.org/vigil", secret: s3cret}
  cooldown: 30m
  repeat: 2h
  link: https://vigil.example.org/
  evaluate_after: 5s
  retry: {first: 10s, most: 10m}
  give_up_after: 12h
""",
        encoding="utf-8",
    )
    alerts = load_settings(config).alerts
    assert [r.name for r in alerts.rules] == ["psi-tiers"]
    assert [r.notifier.name for r in alerts.routes] == ["ops"]
    assert alerts.policy.cooldown == 1800 and alerts.policy.repeat == 7200
    assert alerts.link == "https://vigil.example.org"
    assert alerts.evaluate_after == 5.0
    assert alerts.retry == Retry(first=10, most=600, give_up_after=12 * 3600)
    assert alerts.defaults


def test_no_section_means_the_defaults() -> None:
    alerts = load_settings(None).alerts
    assert alerts.rules == () and alerts.routes == () and alerts.defaults
    assert alerts.policy.cooldown == 0 and alerts.policy.repeat == 4 * 3600


@pytest.mark.parametrize(
    ("section", "names"),
    [
        ({"rule": []}, "unknown key(s) rule"),
        ({"defaults": "yes"}, "alerts.defaults"),
        ({"link": "vigil.example.org"}, "alerts.link"),
        ({"link": 7}, "alerts.link"),
        ({"cooldown": "soon"}, "alerts.cooldown"),
        ({"repeat": -1}, "alerts.repeat"),
        ({"evaluate_after": "fast"}, "alerts.evaluate_after"),
        ({"retry": {"first": "10s", "then": 2}}, "alerts.retry"),
        ({"retry": [1, 2]}, "alerts.retry"),
        ({"give_up_after": 0}, "alerts.give_up_after"),
        ({"rules": [{"name": "default.mine", "metric": "drift.psi", "above": 1}]}, "default."),
        ({"notify": [{"name": "x", "webhook": {"url": "https://evil.example/"}}]}, "allow"),
        ({"rules": "all"}, "alerts.rules"),
        ("rules", "expected a mapping"),
    ],
)
def test_mistakes_name_their_key(section: Any, names: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        parse_alert_settings(section)
    assert names in str(err.value)


def test_the_retry_backs_off_to_its_cap() -> None:
    retry = Retry(first=30, most=3600)
    delays = [retry.delay(n) for n in range(1, 12)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600 and delays == sorted(delays)
    assert retry.delay(10_000) == 3600  # no overflow however many failures


def test_default_rules_judge_score_drift_only_on_the_score() -> None:
    rules = default_rules("credit", 3600)
    assert {r.name for r in rules} == {
        "default.score-drift",
        "default.dataset-drift",
        "default.performance",
        "default.fairness",
        "default.freshness",
    }
    roles = {"score": "score", "income": "feature"}
    points = [
        point("drift.ks", "score", "critical"),
        point("drift.psi", "income", "critical"),  # a feature: not the score rule's
        point("drift.ks", "score", "critical", 0.5),
    ]
    found = judge(rules, "credit", points, roles=roles)
    assert {(f.rule, f.point.column) for f in found} == {("default.score-drift", "score")}
    assert all(f.severity == "critical" for f in found)
    assert judge(rules, "other-model", points, roles=roles) == []


def test_default_freshness_levels_follow_the_window_size() -> None:
    (fresh,) = [r for r in default_rules("m", 600) if r.name == "default.freshness"]
    levels = fresh.when.levels  # type: ignore[union-attr]
    assert (levels.warning, levels.critical) == (1200.0, 14400.0)


def test_a_family_status_rule_covers_every_measure_and_whole_window_points() -> None:
    (rule,) = parse_rules(yaml.safe_load("[{name: perf, metric: performance, status: warning}]"))
    assert rule.when == Status("warning")
    points = [
        point("performance.accuracy", "", "warning", 0.81),
        point("performance.roc_auc", "", "ok", 0.9),
        point("performance.f1", "", "pending", 0.2),  # too few labels: no finding
        point("drift.ks", "x", "critical"),
    ]
    # one alert key per window (rule, model, version, column, segment): the worst finding
    (found,) = judge([rule], "m", points)
    assert (found.point.metric, found.severity) == ("performance.accuracy", "warning")
    (clear,) = judge([rule], "m", [points[1]])
    assert clear.severity is None
    later = [replace(p, start=p.start + timedelta(hours=1)) for p in points]
    assert len(judge([rule], "m", points + later)) == 2  # two windows, two findings


def test_pending_points_give_no_finding_for_any_condition() -> None:
    (rule,) = parse_rules(
        yaml.safe_load("[{name: acc, metric: performance.accuracy, below: 0.95}]")
    )
    assert judge([rule], "m", [point("performance.accuracy", "", "pending", 0.5)]) == []
    assert len(judge([rule], "m", [point("performance.accuracy", "", "none", 0.5)])) == 1


@pytest.mark.parametrize(
    ("rule", "names"),
    [
        ({"metric": "drift", "above": 0.1}, "only a status rule"),
        ({"metric": "drift", "status": "critical", "roles": ["scorer"]}, "unknown role(s) scorer"),
        ({"metric": "ops.count", "above": 1, "roles": ["score"]}, "leave roles out"),
    ],
)
def test_family_and_role_mistakes(rule: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules([{"name": "r", **rule}])
    assert names in str(err.value) and "'r'" in str(err.value)
