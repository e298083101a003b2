"""Alert rules: what to watch, where, and at which levels (docs/alerts.md).

A rule watches one metric (docs/api.md's names) in a scope — models, versions, columns,
segments — and says when it is breached, in one of five ways:

- `above` / `below`: a threshold with a warning and/or a critical level;
- `change`: the relative change against a baseline — the reference's value, the previous
  window, or the window a duration earlier (`1d`, `7d`) — `up` or `down` by a fraction;
- `control`: outside mean ± k·σ of the last N windows, once `min_history` of them exist;
- `status`: the verdict layer's own status of the metric reaches warning or critical. A
  status rule may name a family instead of one metric: `drift` (a column's drift verdict,
  whichever measure decided it), `quality`, `performance`, `attribution`, `fairness` or
  `estimated` (every judged metric of that kind).

`for` delays firing until the breach has held for N evaluations or a duration, as Prometheus
rules do; `resolve_after` is the hysteresis: the number of clear evaluations in a row before a
firing alert resolves. Rules come from YAML (`parse_rules`) or are built in Python; every
mistake is a ConfigError naming the rule and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vigil.alerts.fields import name_of, named_items, only
from vigil.alerts.metrics import column_metrics, metric_problem
from vigil.errors import ConfigError
from vigil.spec.types import ROLES
from vigil.units import parse_duration

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
Baseline = Literal["reference", "previous"] | int  # an int: that many seconds earlier
_KINDS = ("above", "below", "change", "control", "status")
_KEYS = {
    "name",
    "metric",
    "columns",
    "roles",
    "models",
    "versions",
    "segments",
    "for",
    "resolve_after",
}
# a status rule's metric may be a family: every judged point whose metric starts with it
FAMILIES = ("drift", "quality", "performance", "attribution", "fairness", "estimated")
_EXAMPLE = {
    "drift": "drift.psi",
    "quality": "quality.missing_share",
    "performance": "performance.accuracy",
    "attribution": "attribution.ndcg",
    "fairness": "fairness.disparate_impact",
}


@dataclass(frozen=True, slots=True)
class Levels:
    """A warning and/or a critical level; `direction` says which side breaches.

    `above`: a value at or above a level reaches it; `below`: a value below it.
    """

    warning: float | None
    critical: float | None
    direction: Literal["above", "below"] = "above"

    def __post_init__(self) -> None:
        given = [v for v in (self.warning, self.critical) if v is not None]
        if not given:
            raise ValueError("give a warning level, a critical level, or both.")
        if not all(math.isfinite(v) for v in given):
            raise ValueError(f"levels must be finite numbers; got {given}.")
        if self.warning is not None and self.critical is not None:
            beyond = (
                self.critical >= self.warning
                if self.direction == "above"
                else self.critical <= self.warning
            )
            if not beyond:
                side = "at or above" if self.direction == "above" else "at or below"
                raise ValueError(
                    f"the critical level {self.critical} must be {side} the warning level "
                    f"{self.warning}."
                )

    def reached(self, value: float) -> tuple[Severity | None, float]:
        """The severity `value` reaches and the level that decided (the first given level when
        it reaches none)."""
        for severity, level in (("critical", self.critical), ("warning", self.warning)):
            if level is None:
                continue
            hit = value >= level if self.direction == "above" else value < level
            if hit:
                return severity, level  # type: ignore[return-value]
        first = self.warning if self.warning is not None else self.critical
        assert first is not None
        return None, first


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a rule applies. None means every model, version or column; `segments` lists the
    segment values ("" is the whole window), None every segment; `roles` keeps the columns
    whose spec role is one of them (`prediction`, `score`, `feature`, …), None any."""

    models: tuple[str, ...] | None = None
    versions: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = ("",)
    roles: tuple[str, ...] | None = None

    def covers(
        self, model: str, version: str, column: str, segment: str, role: str | None = None
    ) -> bool:
        return (
            (self.models is None or model in self.models)
            and (self.versions is None or version in self.versions)
            and (self.columns is None or column in self.columns)
            and (self.segments is None or segment in self.segments)
            and (self.roles is None or role in self.roles)
        )


@dataclass(frozen=True, slots=True)
class Hold:
    """How long a breach must last before the alert fires: evaluations in a row, or seconds
    since it began (whichever is given; one evaluation fires at once)."""

    evaluations: int = 1
    seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    levels: Levels


@dataclass(frozen=True, slots=True)
class Change:
    """Relative change (value − baseline) / |baseline|, `up` or `down`, against `against`."""

    against: Baseline
    levels: Levels  # fractions of the baseline, direction "above"
    up: bool


@dataclass(frozen=True, slots=True)
class Control:
    """Outside mean ± k·σ of the last `windows` values, once `min_history` of them exist."""

    levels: Levels  # k for warning and critical, direction "above"
    windows: int = 24
    min_history: int = 8


@dataclass(frozen=True, slots=True)
class Status:
    """The verdict layer's status of the metric reaches `at`."""

    at: Severity = "warning"


Condition = Threshold | Change | Control | Status


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    metric: str
    when: Condition
    scope: Scope = Scope()
    hold: Hold = Hold()
    resolve_after: int = 2

    def watches(self, metric: str) -> bool:
        """Whether a point of `metric` is the rule's: its metric, or one of its family."""
        return metric == self.metric or (
            self.metric in FAMILIES and metric.startswith(self.metric + ".")
        )

    @property
    def needs_history(self) -> bool:
        """Whether the rule reads earlier windows (so one report cannot judge it)."""
        return isinstance(self.when, Control) or (
            isinstance(self.when, Change) and self.when.against != "reference"
        )


def parse_rules(data: Any, where: str = "alerts.rules") -> tuple[Rule, ...]:
    """Rules from YAML data: a list of mappings (docs/alerts.md)."""
    return named_items(
        data, where, parse_rule, lambda r: r.name, plural="rules", expected="a list of rules"
    )


def parse_rule(item: Any, where: str) -> Rule:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, metric and a condition.")
    name = name_of(item, where, "a rule")
    where = f"rule {name!r}"
    unknown = sorted(set(map(str, item)) - _KEYS - set(_KINDS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_KEYS | set(_KINDS)))}."
        )
    metric = item.get("metric")
    if not isinstance(metric, str):
        raise ConfigError(f"{where}.metric: expected a metric name such as drift.psi.")
    kinds = [k for k in _KINDS if k in item]
    if len(kinds) != 1:
        raise ConfigError(
            f"{where}: give exactly one of {', '.join(_KINDS)} (found "
            f"{', '.join(kinds) or 'none'})."
        )
    kind = kinds[0]
    if metric in FAMILIES:
        if kind != "status":
            raise ConfigError(
                f"{where}.metric: {metric!r} is a family of metrics, which only a status rule "
                f"can watch (their values are not comparable); name one metric such as "
                f"{_EXAMPLE[metric]}."
            )
    else:
        problem = metric_problem(metric)
        if problem:
            raise ConfigError(f"{where}.metric: {problem}")
    when = _condition(kind, item[kind], f"{where}.{kind}")
    per_column = metric in column_metrics() or metric in FAMILIES
    columns = _names(item.get("columns", "*"), f"{where}.columns")
    roles = _names(item.get("roles", "*"), f"{where}.roles")
    for key in ("columns", "roles"):
        if not per_column and key in item:
            raise ConfigError(
                f"{where}.{key}: {metric} is a figure of the whole window, not of a column; "
                f"leave {key} out."
            )
    bad = sorted(set(roles or ()) - set(ROLES))
    if bad:
        raise ConfigError(
            f"{where}.roles: unknown role(s) {', '.join(bad)}; known: {', '.join(ROLES)}."
        )
    scope = Scope(
        models=_names(item.get("models", "*"), f"{where}.models"),
        versions=_names(item.get("versions", "*"), f"{where}.versions"),
        columns=columns if per_column else ("",),
        segments=_names(item.get("segments", [""]), f"{where}.segments"),
        roles=roles if per_column else None,
    )
    return Rule(
        name=name,
        metric=metric,
        when=when,
        scope=scope,
        hold=_hold(item.get("for", 1), f"{where}.for"),
        resolve_after=_count(item.get("resolve_after", 2), f"{where}.resolve_after"),
    )


def _condition(kind: str, data: Any, where: str) -> Condition:
    if kind in ("above", "below"):
        return Threshold(_levels(data, where, kind))
    if kind == "status":
        if data not in SEVERITIES:
            raise ConfigError(f"{where}: expected warning or critical; got {data!r}.")
        return Status(data)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping.")
    if kind == "change":
        only(data, {"against", "up", "down"}, where)
        sides = [s for s in ("up", "down") if s in data]
        if len(sides) != 1:
            raise ConfigError(f"{where}: give exactly one of up or down.")
        levels = _levels(data[sides[0]], f"{where}.{sides[0]}", "above")
        if any(v is not None and v <= 0 for v in (levels.warning, levels.critical)):
            raise ConfigError(
                f"{where}.{sides[0]}: levels are fractions of the baseline above 0 (0.05 = 5%)."
            )
        return Change(_baseline(data.get("against", "reference"), where), levels, sides[0] == "up")
    only(data, {"sigmas", "windows", "min_history"}, where)
    levels = _levels(data.get("sigmas", {"warning": 3}), f"{where}.sigmas", "above")
    if any(v is not None and v <= 0 for v in (levels.warning, levels.critical)):
        raise ConfigError(f"{where}.sigmas: k must be above 0.")
    windows = _count(data.get("windows", 24), f"{where}.windows")
    least = _count(data.get("min_history", min(8, windows)), f"{where}.min_history")
    if least < 2 or least > windows:
        raise ConfigError(
            f"{where}.min_history: expected 2 to windows ({windows}); got {least} "
            f"(σ needs at least two earlier values)."
        )
    return Control(levels, windows, least)


def _levels(data: Any, where: str, direction: str) -> Levels:
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        data = {"warning": data}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected {{warning: …, critical: …}} or one number.")
    only(data, {"warning", "critical"}, where)
    values: dict[str, float | None] = {}
    for key in SEVERITIES:
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}.{key}: expected a number; got {value!r}.")
        values[key] = None if value is None else float(value)
    try:
        return Levels(values["warning"], values["critical"], direction)  # type: ignore[arg-type]
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from err


def _baseline(value: Any, where: str) -> Baseline:
    if value in ("reference", "previous"):
        return value  # type: ignore[no-any-return]
    try:
        return parse_duration(value, f"{where}.against")
    except ConfigError as err:
        raise ConfigError(
            f"{where}.against: expected reference, previous or a duration such as 1d or 7d; "
            f"got {value!r}."
        ) from err


def _hold(value: Any, where: str) -> Hold:
    if isinstance(value, int) and not isinstance(value, bool):
        return Hold(evaluations=_count(value, where))
    return Hold(seconds=parse_duration(value, where))


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise ConfigError(f"{where}: expected a whole number from 1 to 100000; got {value!r}.")
    return value


def _names(value: Any, where: str) -> tuple[str, ...] | None:
    if value == "*":
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: expected "*" or a list of names.')
    return tuple(value)
