"""Rules against metric points: for each rule and each point in its scope, a `Finding` —
breached at a severity, or clear — with the evidence a person needs (value, level, baseline).

A point a rule cannot judge gives no finding at all, so an open alert neither resolves nor
escalates on it: a point the verdict layer left `pending` (too few labels to tell), a missing
value, a change against a baseline of 0 or one not known (no reference value, no earlier
window), a control band with fewer than `min_history` earlier values or a σ of 0, a status
rule on a point no check judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from vigil.alerts.rules import Change, Control, Rule, Severity, Status, Threshold
from vigil.report.model import STATUS_ORDER, Report
from vigil.store.base import MetricPoint

AlertKey = tuple[str, str, str, str, str]  # rule, model, version, column, segment
_RANK = {None: 0, "warning": 1, "critical": 2}


class History(Protocol):
    """Earlier windows' values of the same model, version, kind, segment, metric and column."""

    def before(self, model: str, point: MetricPoint, limit: int) -> list[float]:
        """The values of up to `limit` windows that start before `point`'s, newest first."""
        ...

    def at(self, model: str, point: MetricPoint, start: datetime) -> float | None:
        """The value of the window that starts at `start`, or None."""
        ...


class NoHistory:
    """One report on its own (`vigil check`): no earlier window."""

    def before(self, model: str, point: MetricPoint, limit: int) -> list[float]:
        return []

    def at(self, model: str, point: MetricPoint, start: datetime) -> float | None:
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's judgement of one point: `severity` None means the rule holds (clear)."""

    rule: str
    model: str
    point: MetricPoint
    severity: Severity | None
    threshold: float  # the level that decided (for change: a fraction; control: k)
    baseline: float | None  # change: the baseline value; control: the band's mean
    message: str

    @property
    def key(self) -> AlertKey:
        p = self.point
        return (self.rule, self.model, p.version, p.column, p.segment)


def reference_values(report: Report) -> dict[tuple[str, str], float]:
    """The reference's own value of each metric it has one of: performance metrics and the
    reference's missing and outlier shares — the baselines of `change: {against: reference}`."""
    out: dict[tuple[str, str], float] = {}
    perf = report.performance
    if perf is not None and perf.reference is not None:
        for name, value in perf.reference.metrics.items():
            if value is not None:
                out[(f"performance.{name}", "")] = value
    for name, q in report.quality.columns.items():
        out[("quality.missing_share", name)] = q.reference_missing_share
        if q.reference_outlier_share is not None:
            out[("quality.outlier_share", name)] = q.reference_outlier_share
    return out


def roles_of(spec: Mapping[str, Any]) -> dict[str, str]:
    """Each column's role in a spec as plain data (a report's `spec`, a model version's)."""
    columns = spec.get("columns") or {}
    return {str(name): str(c.get("role", "feature")) for name, c in columns.items()}


def judge(
    rules: Iterable[Rule],
    model: str,
    points: Iterable[MetricPoint],
    *,
    history: History | None = None,
    references: Mapping[tuple[str, str], float] | None = None,
    roles: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every finding of `rules` on one window's `points` of `model`; `roles` gives each
    column's spec role, for rules scoped by role."""
    history = history or NoHistory()
    references = references or {}
    roles = roles or {}
    by_metric: dict[str, list[MetricPoint]] = {}
    for point in points:
        by_metric.setdefault(point.metric, []).append(point)
    out: list[Finding] = []
    for rule in rules:
        for metric, listed in by_metric.items():
            if not rule.watches(metric):
                continue
            for point in listed:
                if not rule.scope.covers(
                    model, point.version, point.column, point.segment, roles.get(point.column)
                ):
                    continue
                finding = _judge_one(rule, model, point, history, references)
                if finding is not None:
                    out.append(finding)
    return _worst_per_key(out)


def _worst_per_key(findings: list[Finding]) -> list[Finding]:
    """One finding per alert key and window: a family rule (`performance`) judges several
    points of one key in a window, and any breach among them is the window's finding — the
    worst, the first of equals; a clear one only when all are clear."""
    kept: dict[tuple[AlertKey, str, datetime], Finding] = {}
    for finding in findings:
        slot = (finding.key, finding.point.kind, finding.point.start)
        held = kept.get(slot)
        if held is None or _RANK[finding.severity] > _RANK[held.severity]:
            kept[slot] = finding
    return list(kept.values())


def _judge_one(
    rule: Rule,
    model: str,
    point: MetricPoint,
    history: History,
    references: Mapping[tuple[str, str], float],
) -> Finding | None:
    when = rule.when
    if point.status == "pending":  # the verdict layer cannot tell yet (too few labels)
        return None
    where = f"{point.metric} of {point.column!r}" if point.column else point.metric
    if point.segment:
        where += f" in {point.segment}"
    if isinstance(when, Status):
        if point.status not in STATUS_ORDER:
            return None
        reached = STATUS_ORDER[point.status] >= STATUS_ORDER[when.at] and point.status in (
            "warning",
            "critical",
        )
        severity: Severity | None = point.status if reached else None  # type: ignore[assignment]
        level = float(STATUS_ORDER[when.at])
        text = f"the verdict on {where} is {point.status}"
        return Finding(rule.name, model, point, severity, level, None, text)
    value = point.value
    if value is None or not math.isfinite(value):
        return None
    if isinstance(when, Threshold):
        severity, level = when.levels.reached(value)
        side = "at or above" if when.levels.direction == "above" else "below"
        text = f"{where} is {value:.4g}"
        text += f", {side} the {severity} level {level:g}" if severity else f" (level {level:g})"
        return Finding(rule.name, model, point, severity, level, None, text)
    if isinstance(when, Change):
        baseline = _baseline(when, model, point, history, references)
        if baseline is None or baseline == 0 or not math.isfinite(baseline):
            return None
        change = (value - baseline) / abs(baseline)
        severity, level = when.levels.reached(change if when.up else -change)
        against = _against_text(when)
        text = f"{where} is {value:.4g} against {baseline:.4g} {against} ({change:+.1%})"
        if severity:
            text += f", {'up' if when.up else 'down'} by at least {level:.0%} ({severity})"
        return Finding(rule.name, model, point, severity, level, baseline, text)
    assert isinstance(when, Control)
    earlier = [v for v in history.before(model, point, when.windows) if math.isfinite(v)]
    if len(earlier) < when.min_history:
        return None
    mean = math.fsum(earlier) / len(earlier)
    sigma = math.sqrt(math.fsum((v - mean) ** 2 for v in earlier) / (len(earlier) - 1))
    if sigma == 0:
        return None
    k = abs(value - mean) / sigma
    severity, level = when.levels.reached(k)
    text = (
        f"{where} is {value:.4g}, {k:.1f}σ from the mean {mean:.4g} of the last "
        f"{len(earlier)} windows"
    )
    if severity:
        text += f" (outside ±{level:g}σ: {severity})"
    return Finding(rule.name, model, point, severity, level, mean, text)


def _baseline(
    when: Change,
    model: str,
    point: MetricPoint,
    history: History,
    references: Mapping[tuple[str, str], float],
) -> float | None:
    if when.against == "reference":
        return references.get((point.metric, point.column))
    if when.against == "previous":
        earlier = history.before(model, point, 1)
        return earlier[0] if earlier else None
    assert isinstance(when.against, int)
    return history.at(model, point, point.start - timedelta(seconds=when.against))


def _against_text(when: Change) -> str:
    if when.against == "reference":
        return "on the reference"
    if when.against == "previous":
        return "in the previous window"
    assert isinstance(when.against, int)
    return f"{_duration_text(when.against)} earlier"


def _duration_text(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
