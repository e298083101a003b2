"""The `alerts:` section of the service's config (docs/alerts.md, docs/config.md): rules, the
default rules, the notifiers and their allow-list, the lifecycle's timing and the outbox's
retries. Every mistake is a ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vigil.alerts.action_settings import ActionSettings, parse_actions
from vigil.alerts.destinations import Route, parse_allow, parse_routes
from vigil.alerts.lifecycle import Policy
from vigil.alerts.rules import Hold, Levels, Rule, Scope, Status, Threshold, parse_rules
from vigil.alerts.sla import SLA, parse_slas
from vigil.errors import ConfigError
from vigil.units import parse_duration

KEYS = {
    "rules",
    "defaults",
    "allow",
    "notify",
    "cooldown",
    "repeat",
    "link",
    "evaluate_after",
    "retry",
    "give_up_after",
    "slas",
    "actions",
}
DEFAULT_PREFIX = "default."


@dataclass(frozen=True, slots=True)
class Retry:
    """How the outbox retries a delivery that failed: `first` seconds after the first
    failure, doubling, at most `most` apart; given up `give_up_after` seconds after the
    notice was made."""

    first: int = 30
    most: int = 3600
    give_up_after: int = 86400

    def delay(self, attempts: int) -> int:
        """Seconds before the next attempt, after `attempts` failures (1 for the first)."""
        return int(min(self.first * 2.0 ** min(max(attempts - 1, 0), 32), self.most))


@dataclass(frozen=True, slots=True)
class AlertSettings:
    rules: tuple[Rule, ...] = ()
    defaults: bool = True  # the default rules (`default_rules`) besides those written
    routes: tuple[Route, ...] = ()
    allow: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)
    link: str | None = None  # the service's address as people reach it, for links in notices
    # an open window is evaluated again once this many seconds passed since new rows were
    # acknowledged (and it grew by a tenth): a change shows in seconds, not at the next tick
    evaluate_after: float | None = 2.0  # None ("off"): only the scheduler's ticks
    retry: Retry = field(default_factory=Retry)
    slas: tuple[SLA, ...] = ()  # vigil.alerts.sla
    actions: ActionSettings | None = None  # vigil.alerts.actions; None: none configured


def default_rules(model: str, size_seconds: int) -> tuple[Rule, ...]:
    """The rules every model gets unless `alerts.defaults` is false (docs/alerts.md): critical
    drift of the score or prediction, critical drift of the dataset, performance outside its
    noise band (the verdict layer's own judgement) in two windows in a row, the same for
    fairness (only a spec with a protected attribute has its points), and predictions that
    stopped coming."""
    only = Scope(models=(model,))
    return (
        Rule(
            f"{DEFAULT_PREFIX}score-drift",
            "drift",
            Status("critical"),
            Scope(models=(model,), roles=("prediction", "score")),
        ),
        Rule(f"{DEFAULT_PREFIX}dataset-drift", "drift.share_drifted", Status("critical"), only),
        # one window's performance is one of many tests a week (metrics × windows): a breach
        # must hold in two windows in a row before anyone is told
        Rule(f"{DEFAULT_PREFIX}performance", "performance", Status("warning"), only, Hold(2)),
        Rule(f"{DEFAULT_PREFIX}fairness", "fairness", Status("warning"), only, Hold(2)),
        Rule(
            f"{DEFAULT_PREFIX}freshness",
            "freshness.prediction_age_s",
            Threshold(Levels(2.0 * size_seconds, 24.0 * size_seconds)),
            only,
            Hold(),
            resolve_after=1,
        ),
    )


def parse_alert_settings(data: Any, where: str = "alerts") -> AlertSettings:
    """The `alerts:` section (None: every default)."""
    if data is None:
        return AlertSettings()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping (rules, notify, allow, …).")
    unknown = sorted(set(map(str, data)) - KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}."
        )
    rules = parse_rules(data.get("rules"), f"{where}.rules")
    for rule in rules:
        if rule.name.startswith(DEFAULT_PREFIX):
            raise ConfigError(
                f"{where}.rules: {rule.name!r}: names starting with {DEFAULT_PREFIX!r} are the "
                f"default rules'; set alerts.defaults: false to drop them and name yours "
                f"otherwise."
            )
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise ConfigError(f"{where}.defaults: expected true or false; got {defaults!r}.")
    allow = parse_allow(data.get("allow"), f"{where}.allow")
    routes = parse_routes(data.get("notify"), allow, f"{where}.notify")
    repeat = data.get("repeat", "4h")
    policy = Policy(
        cooldown=_seconds_or_zero(data.get("cooldown", 0), f"{where}.cooldown"),
        repeat=None
        if repeat in (None, "off", False)
        else parse_duration(repeat, f"{where}.repeat"),
    )
    link = data.get("link")
    if link is not None:
        parts = urlsplit(link) if isinstance(link, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{where}.link: expected the service's http(s) address as people reach it, "
                f"such as https://vigil.example.org; got {link!r}."
            )
        link = link.rstrip("/")
    after_data = data.get("evaluate_after", 2)
    after = (
        None
        if after_data in ("off", False)
        else parse_duration(after_data, f"{where}.evaluate_after")
    )
    retry_data = data.get("retry", {})
    if not isinstance(retry_data, Mapping) or set(map(str, retry_data)) - {"first", "most"}:
        raise ConfigError(f"{where}.retry: expected {{first: 30s, most: 1h}}.")
    retry = Retry(
        first=max(1, parse_duration(retry_data.get("first", 30), f"{where}.retry.first")),
        most=max(1, parse_duration(retry_data.get("most", 3600), f"{where}.retry.most")),
        give_up_after=parse_duration(data.get("give_up_after", "1d"), f"{where}.give_up_after"),
    )
    return AlertSettings(
        rules=rules,
        defaults=defaults,
        routes=routes,
        allow=allow,
        policy=policy,
        link=link,
        evaluate_after=None if after is None else float(after),
        retry=retry,
        slas=parse_slas(data.get("slas"), f"{where}.slas"),
        actions=None if data.get("actions") is None else parse_actions(data["actions"], allow),
    )


def _seconds_or_zero(value: Any, where: str) -> int:
    if value in (0, "0", "off", None, False):
        return 0
    return parse_duration(value, where)
