"""`alerts.actions` of the config: which triggers ask for a retrain, a rollback or a promotion,
the policy that takes or skips them, and what each calls (docs/alerts.md, "Actions").
`parse_actions` refuses every mistake with a ConfigError naming the key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from croniter import CroniterBadDateError, croniter

from vigil.alerts.action_targets import CommandTarget, HookTarget, Target
from vigil.alerts.challenger import COMPARE_METRICS
from vigil.alerts.destinations import allowed_url
from vigil.alerts.fields import only
from vigil.alerts.rules import SEVERITIES, Severity
from vigil.errors import ConfigError
from vigil.units import parse_duration


@dataclass(frozen=True, slots=True)
class RetrainPolicy:
    """When a retrain may be asked for, and how often one may be taken."""

    target: Target
    schedule: str | None = None  # cron, UTC
    drift: tuple[str, ...] = ()  # rules whose alerts ask for a retrain (trigger "drift")
    performance: tuple[str, ...] = ()  # (trigger "performance")
    severity: Severity = "critical"  # the lowest alert severity that asks
    min_interval: int | None = None  # seconds between two retrains (not for manual ones)
    monthly_budget: int | None = None  # retrains per calendar month (UTC), every trigger
    models: tuple[str, ...] | None = None  # None: every model
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RollbackPolicy:
    """A critical alert of one of `rules` rolls the model back, when enabled."""

    enabled: bool = False
    target: Target | None = None
    rules: tuple[str, ...] = ()
    models: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ChallengerPlan:
    """One model's challenger: compared with the champion at most every `every` seconds over
    the last `window` seconds, and promoted through `promote` when enabled and better."""

    champion: str
    challenger: str
    metric: str
    pair_by: str | None = None
    window: int = 7 * 86400
    every: int = 3600
    n_resamples: int = 2000
    confidence: float = 0.95
    min_pairs: int = 500
    promote: bool = False
    target: Target | None = None


@dataclass(frozen=True, slots=True)
class ActionSettings:
    """`alerts.actions` of the config."""

    retrain: RetrainPolicy | None = None
    rollback: RollbackPolicy = RollbackPolicy()
    challengers: Mapping[str, ChallengerPlan] = field(default_factory=dict)


def parse_actions(data: Any, allow: Sequence[str], where: str = "alerts.actions") -> ActionSettings:
    """`alerts.actions` from the config; every mistake is a ConfigError naming the key."""
    if data is None:
        return ActionSettings()
    _mapping(data, where)
    only(data, {"retrain", "rollback", "challenger"}, where)
    retrain = None
    if data.get("retrain") is not None:
        retrain = _retrain(data["retrain"], allow, f"{where}.retrain")
    rollback = RollbackPolicy()
    if data.get("rollback") is not None:
        rollback = _rollback(data["rollback"], allow, f"{where}.rollback")
    challengers: dict[str, ChallengerPlan] = {}
    if data.get("challenger") is not None:
        _mapping(data["challenger"], f"{where}.challenger", "of model names to challengers")
        for name, plan in data["challenger"].items():
            challengers[str(name)] = _challenger(plan, allow, f"{where}.challenger.{name}")
    return ActionSettings(retrain, rollback, challengers)


def _retrain(data: Any, allow: Sequence[str], where: str) -> RetrainPolicy:
    _mapping(data, where)
    only(
        data,
        {
            "webhook",
            "command",
            "schedule",
            "on",
            "severity",
            "min_interval",
            "monthly_budget",
            "models",
            "enabled",
        },
        where,
    )
    target = _target(data, allow, where)
    if target is None:
        raise ConfigError(f"{where}: give a webhook or a command to call for a retrain.")
    schedule = data.get("schedule")
    if schedule is not None:
        schedule = _cron(schedule, f"{where}.schedule")
    on = data.get("on", {})
    _mapping(on, f"{where}.on", "with drift and/or performance rule lists")
    only(on, {"drift", "performance"}, f"{where}.on")
    severity = data.get("severity", "critical")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}.severity: expected warning or critical; got {severity!r}.")
    interval = data.get("min_interval")
    budget = data.get("monthly_budget")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
    ):
        raise ConfigError(
            f"{where}.monthly_budget: expected a whole number of retrains, at least 1; "
            f"got {budget!r}."
        )
    return RetrainPolicy(
        target=target,
        schedule=schedule,
        drift=_rules(on.get("drift", []), f"{where}.on.drift"),
        performance=_rules(on.get("performance", []), f"{where}.on.performance"),
        severity=severity,
        min_interval=None
        if interval is None
        else parse_duration(interval, f"{where}.min_interval"),
        monthly_budget=budget,
        models=_models(data.get("models", "*"), f"{where}.models"),
        enabled=_flag(data.get("enabled", True), f"{where}.enabled"),
    )


def _rollback(data: Any, allow: Sequence[str], where: str) -> RollbackPolicy:
    _mapping(data, where)
    only(data, {"enabled", "webhook", "command", "on", "models"}, where)
    enabled = _flag(data.get("enabled", False), f"{where}.enabled")
    target = _target(data, allow, where)
    if enabled and target is None:
        raise ConfigError(f"{where}: enabled, but no webhook or command to call.")
    return RollbackPolicy(
        enabled,
        target,
        _rules(data.get("on", []), f"{where}.on"),
        _models(data.get("models", "*"), f"{where}.models"),
    )


def _challenger(data: Any, allow: Sequence[str], where: str) -> ChallengerPlan:
    _mapping(data, where)
    only(
        data,
        {
            "champion",
            "challenger",
            "metric",
            "pair_by",
            "window",
            "every",
            "n_resamples",
            "confidence",
            "min_pairs",
            "promote",
        },
        where,
    )
    champion = _version(data.get("champion"), f"{where}.champion")
    challenger = _version(data.get("challenger"), f"{where}.challenger")
    if champion == challenger:
        raise ConfigError(f"{where}: the champion and the challenger are both {champion!r}.")
    metric = data.get("metric")
    if metric not in COMPARE_METRICS:
        raise ConfigError(
            f"{where}.metric: expected one of {', '.join(sorted(COMPARE_METRICS))}; got {metric!r}."
        )
    pair_by = data.get("pair_by")
    if pair_by is not None and (not isinstance(pair_by, str) or not pair_by):
        raise ConfigError(f"{where}.pair_by: expected a column name.")
    confidence = data.get("confidence", 0.95)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not (0.5 <= confidence < 1)
    ):
        raise ConfigError(
            f"{where}.confidence: expected a level between 0.5 and 1 (e.g. 0.95); "
            f"got {confidence!r}."
        )
    promote = data.get("promote", {})
    _mapping(promote, f"{where}.promote")
    only(promote, {"enabled", "webhook", "command"}, f"{where}.promote")
    enabled = _flag(promote.get("enabled", False), f"{where}.promote.enabled")
    target = _target(promote, allow, f"{where}.promote")
    if enabled and target is None:
        raise ConfigError(f"{where}.promote: enabled, but no webhook or command to call.")
    return ChallengerPlan(
        champion=champion,
        challenger=challenger,
        metric=metric,
        pair_by=pair_by,
        window=parse_duration(data.get("window", "7d"), f"{where}.window"),
        every=parse_duration(data.get("every", "1h"), f"{where}.every"),
        n_resamples=_count(data.get("n_resamples", 2000), f"{where}.n_resamples", 100, 100_000),
        confidence=float(confidence),
        min_pairs=_count(data.get("min_pairs", 500), f"{where}.min_pairs", 2, 10**9),
        promote=enabled,
        target=target,
    )


def _target(data: Mapping[str, Any], allow: Sequence[str], where: str) -> Target | None:
    if "webhook" in data and "command" in data:
        raise ConfigError(f"{where}: give a webhook or a command, not both.")
    if data.get("webhook") is not None:
        hook = data["webhook"]
        w = f"{where}.webhook"
        _mapping(hook, w)
        only(hook, {"url", "secret", "headers", "timeout", "body"}, w)
        url = allowed_url(hook.get("url"), allow, f"{w}.url")
        secret = hook.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise ConfigError(f"{w}.secret: expected text.")
        headers = hook.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(f"{w}.headers: expected a mapping of header names to text.")
        body = hook.get("body", "vigil")
        if body not in ("vigil", "airflow"):
            raise ConfigError(f"{w}.body: expected vigil or airflow; got {body!r}.")
        timeout = parse_duration(hook.get("timeout", 10), f"{w}.timeout")
        return HookTarget(url, secret, dict(headers), float(timeout), body)
    if data.get("command") is not None:
        command = data["command"]
        w = f"{where}.command"
        timeout = 60
        if isinstance(command, Mapping):
            only(command, {"argv", "timeout"}, w)
            timeout = parse_duration(command.get("timeout", 60), f"{w}.timeout")
            command = command.get("argv")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(a, str) and a and "\x00" not in a for a in command)
        ):
            raise ConfigError(
                f"{w}: expected a list of arguments, the program first (no shell), e.g. "
                f"[./retrain.sh, --fast]."
            )
        return CommandTarget(tuple(command), float(timeout))
    return None


def _cron(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value.split()) != 5 or not croniter.is_valid(value):
        raise ConfigError(
            f"{where}: {value!r} is not a cron expression; write five fields (minute hour "
            f"day-of-month month day-of-week, UTC), e.g. '0 3 * * 1' for Mondays at 03:00."
        )
    try:  # valid fields can still name a day that never comes (31 February)
        croniter(value, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ConfigError(f"{where}: {value!r} never comes (no such date).") from None
    return value


def _rules(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of rule names.")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}[{i}]: expected a rule name (text); got {name!r}.")
    return tuple(value)


def _models(value: Any, where: str) -> tuple[str, ...] | None:
    if value == "*":
        return None
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ConfigError(f'{where}: expected "*" or a list of model names.')
    return tuple(value)


def _version(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ConfigError(f'{where}: expected a version name, e.g. "2".')
    return str(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false; got {value!r}.")
    return value


def _count(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a whole number from {low} to {high}; got {value!r}.")
    return value


def _mapping(value: Any, where: str, what: str = "") -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping{' ' + what if what else ''}.")
