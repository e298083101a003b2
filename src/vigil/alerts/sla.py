"""Service-level agreements: named objectives every window should meet, and their error budget.

An SLA (docs/alerts.md) names whole-window metrics with a level each — `accuracy >= 0.95`,
`latency p99 <= 100 ms`, `availability >= 0.999`, `share of drifted features <= 0.1` — and a
target: the share of windows that must meet all of them. `sla_points` judges one batch of a
model's metric points window by window and gives the judgement as metric points of its own
(`sla.met` per window, `sla.objective` per objective), so rules, the store and the API treat
it as any other metric. `budget` counts the stored `sla.met` points of the last days: how
much of the allowed share of breached windows (1 − target) is spent.

An objective whose point is missing, has no value or is still `pending` (too few labels)
cannot be judged: it is not a breach. A window is breached as soon as one judged objective
fails, met when every objective is judged and met, and pending otherwise.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from vigil.alerts.fields import name_of, named_items
from vigil.alerts.metrics import CLOCK_METRICS, column_metrics, dataset_metrics
from vigil.errors import ConfigError
from vigil.store.base import MetricPoint, WindowKind

Operator = Literal[">=", "<=", ">", "<"]
OPERATORS: dict[Operator, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
# the rule-name rule of vigil.alerts.rules: no ':' (an objective's column is "<sla>:<metric>")
_LEVEL = re.compile(r"\s*(>=|<=|>|<)\s*(\S.*?)\s*")
_KEYS = ("name", "models", "target", "objectives")


@dataclass(frozen=True, slots=True)
class Objective:
    """One metric of the whole window held to a level: `metric op level`."""

    metric: str
    op: Operator
    level: float

    def is_met(self, value: float) -> bool:
        """Whether `value` meets the objective."""
        return OPERATORS[self.op](value, self.level)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.level:g}"


@dataclass(frozen=True, slots=True)
class SLA:
    """Objectives every window of the covered models should meet, and the share of windows
    (`target`) that must; the error budget is the rest, 1 − target."""

    name: str
    objectives: tuple[Objective, ...]
    target: float
    models: tuple[str, ...] | None = None  # None: every model

    def covers(self, model: str) -> bool:
        """Whether the SLA applies to `model`."""
        return self.models is None or model in self.models


@dataclass(frozen=True, slots=True)
class Budget:
    """An SLA's error budget over the tumbling windows that ended in the last `days` days."""

    sla: str
    days: int
    met: int
    breached: int
    unknown: int  # windows whose judgement is pending
    met_share: float | None  # met / (met + breached); None when no window was judged
    allowed: float  # the share of breached windows the target allows: 1 − target
    consumed: float | None  # breached share / allowed: 1.0 is the whole budget spent
    remaining: float | None  # 1 − consumed; below 0 when the budget is overspent


def parse_slas(data: Any, where: str = "alerts.slas") -> tuple[SLA, ...]:
    """SLAs from YAML data: a list of mappings (docs/alerts.md)."""
    return named_items(
        data,
        where,
        parse_sla,
        lambda s: s.name,
        plural="SLAs",
        expected="a list of SLAs, each with name, target, objectives",
    )


def parse_sla(item: Any, where: str) -> SLA:
    """One SLA from a YAML mapping; every mistake a ConfigError naming the SLA and the key."""
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, target and objectives.")
    name = name_of(item, where, "an SLA")
    where = f"sla {name!r}"
    unknown = sorted(set(map(str, item)) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}."
        )
    target = item.get("target")
    if (
        isinstance(target, bool)
        or not isinstance(target, (int, float))
        or not 0 < target < 1
        or not math.isfinite(target)
    ):
        raise ConfigError(
            f"{where}.target: expected the share of windows that must meet the objectives, "
            f"above 0 and below 1 (0.99: an error budget of 1% of windows); got {target!r}."
        )
    objectives = item.get("objectives")
    if not isinstance(objectives, Mapping) or not objectives:
        raise ConfigError(
            f"{where}.objectives: expected a mapping of metric to level, such as "
            f'performance.accuracy: ">= 0.95".'
        )
    return SLA(
        name=name,
        objectives=tuple(
            _objective(metric, level, f"{where}.objectives") for metric, level in objectives.items()
        ),
        target=float(target),
        models=_models(item.get("models", "*"), f"{where}.models"),
    )


def _objective(metric: Any, level: Any, where: str) -> Objective:
    if not isinstance(metric, str):
        raise ConfigError(f"{where}: {metric!r} is not a metric name; name one such as ops.count.")
    where = f"{where}.{metric}"
    judged = sorted(dataset_metrics() - set(CLOCK_METRICS))
    if metric in CLOCK_METRICS:
        raise ConfigError(
            f"{where}: {metric} is a figure of the scheduler's clock, not of a window; watch it "
            f"with a rule (docs/alerts.md, Freshness and volume)."
        )
    if metric in column_metrics():
        raise ConfigError(
            f"{where}: {metric} is measured per column; an objective names a figure of the "
            f"whole window, such as drift.share_drifted."
        )
    if metric not in judged:
        close = difflib.get_close_matches(metric, judged, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "docs/api.md lists the metrics."
        raise ConfigError(f"{where}: {metric!r} is not a metric vigil measures; {hint}")
    match = _LEVEL.fullmatch(level) if isinstance(level, str) else None
    if match is None:
        raise ConfigError(
            f'{where}: expected an operator (>=, <=, >, <) and a number, such as ">= 0.95"; '
            f"got {level!r}."
        )
    op, number = match.groups()
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f'{where}: {number!r} is not a finite number; write e.g. "{op} 0.95".')
    return Objective(metric, op, value)  # type: ignore[arg-type]  # the pattern's four


def _models(value: Any, where: str) -> tuple[str, ...] | None:
    if value == "*":
        return None
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, Sequence)
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise ConfigError(f'{where}: expected "*" or a list of model names; got {value!r}.')
    return tuple(value)


def sla_points(slas: Sequence[SLA], model: str, points: Sequence[MetricPoint]) -> list[MetricPoint]:
    """Each SLA covering `model` judged on every window among the whole-window `points`.

    Per window (version, kind, start) and SLA: one `sla.met` point (column: the SLA's name;
    1.0 met / 0.0 breached / None pending; status ok / critical / pending) and one
    `sla.objective` point per objective (column `<sla>:<metric>`; the metric's value).
    """
    windows: dict[tuple[str, WindowKind, datetime], dict[str, MetricPoint]] = {}
    ends: dict[tuple[str, WindowKind, datetime], datetime] = {}
    for p in points:
        if p.segment != "" or p.column != "":
            continue
        key = (p.version, p.kind, p.start)
        windows.setdefault(key, {})[p.metric] = p
        ends[key] = max(ends.get(key, p.end), p.end)
    out: list[MetricPoint] = []
    covering = [s for s in slas if s.covers(model)]
    for key, found in windows.items():
        version, kind, start = key
        end = ends[key]
        for sla in covering:
            statuses = []
            for objective in sla.objectives:
                status, value = _judge(objective, found.get(objective.metric))
                statuses.append(status)
                column = f"{sla.name}:{objective.metric}"
                out.append(
                    MetricPoint(
                        version, kind, "", start, end, "sla.objective", column, value, status
                    )
                )
            met: float | None
            if "critical" in statuses:
                met, status = 0.0, "critical"
            elif "pending" in statuses:
                met, status = None, "pending"
            else:
                met, status = 1.0, "ok"
            out.append(MetricPoint(version, kind, "", start, end, "sla.met", sla.name, met, status))
    return out


def _judge(objective: Objective, point: MetricPoint | None) -> tuple[str, float | None]:
    """The objective's status on `point`, and the value judged."""
    if point is None:
        return "pending", None
    value = point.value
    if value is None or not math.isfinite(value) or point.status == "pending":
        return "pending", value
    return ("ok" if objective.is_met(value) else "critical"), value


def budget(points: Sequence[MetricPoint], sla: SLA, now: datetime, days: int) -> Budget:
    """The error budget of `sla` over the tumbling windows that ended within the last `days`
    days before `now` (`now - days < end <= now`), from their `sla.met` points.

    A window judged more than once (several points of one version and start) counts once,
    by its last point.
    """
    now = _naive_utc(now)
    since = now - timedelta(days=days)
    judged: dict[tuple[str, datetime], float | None] = {}
    for p in points:
        if p.metric != "sla.met" or p.column != sla.name or p.segment != "":
            continue
        if p.kind != "tumbling" or not since < _naive_utc(p.end) <= now:
            continue
        judged[(p.version, _naive_utc(p.start))] = p.value
    met = sum(1 for v in judged.values() if v == 1.0)
    breached = sum(1 for v in judged.values() if v == 0.0)
    unknown = len(judged) - met - breached
    allowed = 1.0 - sla.target
    if met + breached == 0:
        return Budget(sla.name, days, met, breached, unknown, None, allowed, None, None)
    consumed = breached / (met + breached) / allowed
    return Budget(
        sla.name,
        days,
        met,
        breached,
        unknown,
        met / (met + breached),
        allowed,
        consumed,
        1.0 - consumed,
    )


def _naive_utc(moment: datetime) -> datetime:
    """`moment` as the naive UTC timestamp the store keeps."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
