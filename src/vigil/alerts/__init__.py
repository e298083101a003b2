"""Alert rules, their findings on metric points, and the alert lifecycle (docs/alerts.md)."""

from vigil.alerts.judge import Finding, History, NoHistory, judge, reference_values
from vigil.alerts.lifecycle import AlertState, Event, Policy, step
from vigil.alerts.rules import (
    Change,
    Control,
    Hold,
    Levels,
    Rule,
    Scope,
    Status,
    Threshold,
    parse_rules,
)

__all__ = [
    "AlertState",
    "Change",
    "Control",
    "Event",
    "Finding",
    "History",
    "Hold",
    "Levels",
    "NoHistory",
    "Policy",
    "Rule",
    "Scope",
    "Status",
    "Threshold",
    "judge",
    "parse_rules",
    "reference_values",
    "step",
]
