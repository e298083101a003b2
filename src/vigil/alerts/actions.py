"""Actions: retraining, rollback and the promotion of a challenger, each asked for by a trigger,
decided under a policy, and recorded — taken or skipped, and why (docs/alerts.md, "Actions").

```yaml
alerts:
  actions:
    retrain:
      webhook: {url: "https://airflow.internal/api/v1/dags/retrain/dagRuns", body: airflow}
      schedule: "0 3 * * 1"                  # cron, UTC
      on: {drift: [psi-tiers], performance: [accuracy-floor]}
      severity: critical
      min_interval: 1d
      monthly_budget: 4
    rollback: {enabled: true, webhook: {url: "https://deploy.internal/rollback"}, on: [sla]}
    challenger:
      credit: {champion: "1", challenger: "2", metric: roc_auc, pair_by: request_id,
               promote: {enabled: true, webhook: {url: "https://deploy.internal/promote"}}}
```

`Actions` is the responder the alert engine calls: `on_events` after each evaluation with the
alerts that opened or escalated, `on_clock` on every scheduler tick (the cron schedule, the
hourly challenger comparison); `retrain_now` is the manual trigger of the API and the CLI.
Neither `on_events` nor `on_clock` raises: a failure is logged and, when it is the action's
own call, recorded as the decision's outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
import orjson
import pyarrow as pa
from croniter import CroniterBadDateError, croniter

from vigil.alerts.challenger import COMPARE_METRICS, Comparison, compare
from vigil.alerts.destinations import allowed_url
from vigil.alerts.notice import AlertView
from vigil.alerts.notify import alert_json
from vigil.alerts.rules import SEVERITIES, Severity
from vigil.errors import ConfigError
from vigil.store.base import ActionRecord, ModelInfo, utcnow
from vigil.units import parse_duration

log = logging.getLogger("vigil.actions")

Kind = Literal["retrain", "rollback", "promote"]
Trigger = Literal["scheduled", "drift", "performance", "manual", "sla", "challenger"]
KINDS: tuple[Kind, ...] = ("retrain", "rollback", "promote")
RETRAIN_TRIGGERS: tuple[Trigger, ...] = ("scheduled", "drift", "performance", "manual")
_RANK = {"warning": 1, "critical": 2}
_MAX_READ = 100_000  # decisions read back at once; a month holds far fewer


class ActionStore(Protocol):
    """What the actions read and write in the store."""

    def list_models(self) -> list[ModelInfo]: ...
    def read_window(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table: ...
    def record_action(self, model: ModelInfo, record: ActionRecord) -> None: ...
    def read_actions(
        self, model: ModelInfo, *, kind: str | None, since: datetime | None, limit: int
    ) -> list[ActionRecord]: ...


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookTarget:
    """POST the decision as JSON (`body: airflow` wraps it as an Airflow DAG run's `conf`)."""

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    body: Literal["vigil", "airflow"] = "vigil"


@dataclass(frozen=True, slots=True)
class CommandTarget:
    """Run a program (argv, no shell) with the decision as JSON on its standard input."""

    argv: tuple[str, ...]
    timeout: float = 60.0


Target = HookTarget | CommandTarget


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
    _only(data, {"retrain", "rollback", "challenger"}, where)
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
    _only(
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
    _only(on, {"drift", "performance"}, f"{where}.on")
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
    _only(data, {"enabled", "webhook", "command", "on", "models"}, where)
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
    _only(
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
    _only(promote, {"enabled", "webhook", "command"}, f"{where}.promote")
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
        _only(hook, {"url", "secret", "headers", "timeout", "body"}, w)
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
            _only(command, {"argv", "timeout"}, w)
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


def _only(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )


# -- the responder --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrainSummary:
    """What the dashboard shows of a model's retraining."""

    model: str
    last_at: datetime | None  # the last retrain taken and sent
    last_trigger: str | None
    next_scheduled: datetime | None  # from the cron schedule
    this_month: dict[str, int]  # retrains taken and sent this month (UTC), by trigger
    failed_this_month: int  # taken, but the call failed
    skipped_this_month: int
    monthly_budget: int | None
    min_interval: int | None  # seconds


class Actions:
    """Retrains, rollbacks and promotions, decided under `settings` and recorded in `store`.

    `clock` gives now (naive UTC) for the manual trigger and the start of this process: the
    first scheduled retrain of a model never retrained on schedule before is the first cron
    time after it.
    """

    def __init__(
        self,
        store: ActionStore,
        settings: ActionSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()  # one decision at a time: the policy reads, then writes
        self._scheduled: dict[str, datetime | None] = {}  # model -> its last scheduled decision
        self._compared: dict[str, datetime] = {}  # model -> its last challenger comparison

    # the engine's calls

    def on_events(self, model: ModelInfo, views: Sequence[AlertView], now: datetime) -> None:
        """Ask for a retrain and/or a rollback for the alerts that opened or escalated."""
        for ask in (self._retrain_on_alerts, self._rollback_on_alerts):
            try:
                ask(model, views, now)
            except Exception as err:  # a failing action never stops monitoring
                log.error(
                    "model %s: actions on alerts failed: %s: %s",
                    model.name,
                    type(err).__name__,
                    err,
                )

    def on_clock(self, now: datetime) -> None:
        """The scheduled retrains that are due, and the challenger comparisons."""
        try:
            models = self.store.list_models()
        except Exception as err:
            log.error("actions: could not list models: %s: %s", type(err).__name__, err)
            return
        for model in models:
            for step in (self._retrain_on_schedule, self._challenge):
                try:
                    step(model, now)
                except Exception as err:
                    log.error(
                        "model %s: %s failed: %s: %s",
                        model.name,
                        step.__name__,
                        type(err).__name__,
                        err,
                    )

    # the triggers

    def retrain_now(self, model: ModelInfo, reason: str, actor: str | None) -> ActionRecord:
        """A retrain asked for by a person (the API, `vigil retrain`)."""
        evidence = {"requested_by": actor}
        return self._retrain(model, "manual", reason, evidence, self._clock(), actor)

    def _retrain_on_alerts(
        self, model: ModelInfo, views: Sequence[AlertView], now: datetime
    ) -> None:
        policy = self.settings.retrain
        if policy is None or not _applies(policy.models, model.name):
            return
        level = _RANK[policy.severity]
        asking: dict[str, list[AlertView]] = {"drift": [], "performance": []}
        for v in views:
            if v.event not in ("opened", "escalated") or _RANK.get(v.severity, 0) < level:
                continue
            if v.rule in policy.drift:
                asking["drift"].append(v)
            elif v.rule in policy.performance:
                asking["performance"].append(v)
        trigger: Trigger = "drift" if asking["drift"] else "performance"
        found = asking["drift"] or asking["performance"]
        if found:  # one retrain per call, whatever the number of alerts
            evidence = {"alerts": [alert_json(v) for v in found]}
            self._retrain(model, trigger, _alert_reason(trigger, found), evidence, now, None)

    def _rollback_on_alerts(
        self, model: ModelInfo, views: Sequence[AlertView], now: datetime
    ) -> None:
        policy = self.settings.rollback
        if not policy.rules or not _applies(policy.models, model.name):
            return
        found = [
            v
            for v in views
            if v.rule in policy.rules
            and v.event in ("opened", "escalated")
            and v.severity == "critical"
        ]
        if not found:
            return
        reason = _alert_reason("sla", found)
        evidence = {"alerts": [alert_json(v) for v in found]}
        skip = None if policy.enabled else "rollback is disabled (alerts.actions.rollback.enabled)"
        self._decide(model, "rollback", "sla", reason, evidence, now, None, skip, policy.target)

    def _retrain_on_schedule(self, model: ModelInfo, now: datetime) -> None:
        policy = self.settings.retrain
        if policy is None or policy.schedule is None or not _applies(policy.models, model.name):
            return
        slot = last_cron(policy.schedule, now)
        if model.name not in self._scheduled:
            self._scheduled[model.name] = self._last_scheduled(model, None)
        known = self._scheduled[model.name]
        if slot <= (self._started if known is None else known):
            return
        # another instance on the same store may have decided this slot already
        found = self._last_scheduled(model, slot)
        if found is not None:
            self._scheduled[model.name] = found
            return
        reason = f"the schedule {policy.schedule!r} (UTC) was due at {_iso(slot)}"
        evidence = {"schedule": policy.schedule, "due": _iso(slot)}
        self._retrain(model, "scheduled", reason, evidence, now, None)
        self._scheduled[model.name] = now

    def _last_scheduled(self, model: ModelInfo, since: datetime | None) -> datetime | None:
        records = self.store.read_actions(model, kind="retrain", since=since, limit=_MAX_READ)
        return next((r.decided_at for r in records if r.trigger == "scheduled"), None)

    def _challenge(self, model: ModelInfo, now: datetime) -> None:
        plan = self.settings.challengers.get(model.name)
        if plan is None:
            return
        last = self._compared.get(model.name)
        if last is not None and (now - last).total_seconds() < plan.every:
            return
        self._compared[model.name] = now
        result = self.compare(model, now - timedelta(seconds=plan.window), now)
        self.judge_challenger(model, result, now)

    def compare(self, model: ModelInfo, since: datetime, until: datetime) -> Comparison:
        """The model's challenger against its champion over [since, until); KeyError when
        the model has no challenger configured."""
        plan = self.settings.challengers[model.name]
        return compare(
            self.store,
            model,
            plan.champion,
            plan.challenger,
            plan.metric,
            since,
            until,
            plan.pair_by,
            n_resamples=plan.n_resamples,
            confidence=plan.confidence,
            min_pairs=plan.min_pairs,
        )

    def judge_challenger(
        self, model: ModelInfo, result: Comparison, now: datetime
    ) -> ActionRecord | None:
        """Promote a better challenger when enabled (once per champion/challenger pair), and
        record the comparison's verdict when it changed; None when nothing was recorded."""
        plan = self.settings.challengers[model.name]
        earlier = [
            (r, _loads(r.evidence))
            for r in self.store.read_actions(model, kind="promote", since=None, limit=1000)
        ]
        mine = [
            (r, e)
            for r, e in earlier
            if e.get("champion") == result.champion and e.get("challenger") == result.challenger
        ]
        promoted = next((r for r, _ in mine if r.taken and r.outcome == "sent"), None)
        last_verdict = mine[0][1].get("verdict") if mine else None
        evidence = result.as_json()
        if result.verdict == "better" and plan.promote and promoted is None:
            return self._decide(
                model,
                "promote",
                "challenger",
                result.reason,
                evidence,
                now,
                None,
                None,
                plan.target,
            )
        if result.verdict == last_verdict:
            return None
        if result.verdict != "better":
            skip = result.reason
        elif promoted is not None:
            skip = f"already promoted at {_iso(promoted.decided_at)}; {result.reason}"
        else:
            skip = f"promotion is off (promote.enabled); {result.reason}"
        return self._decide(
            model, "promote", "challenger", result.reason, evidence, now, None, skip, plan.target
        )

    # the policy

    def _retrain(
        self,
        model: ModelInfo,
        trigger: Trigger,
        reason: str,
        evidence: dict[str, Any],
        now: datetime,
        actor: str | None,
    ) -> ActionRecord:
        policy = self.settings.retrain
        with self._lock:
            skip = self._retrain_refusal(model, trigger, now)
            target = None if policy is None else policy.target
            return self._decide_locked(
                model, "retrain", trigger, reason, evidence, now, actor, skip, target
            )

    def _retrain_refusal(self, model: ModelInfo, trigger: Trigger, now: datetime) -> str | None:
        """Why a retrain asked for now is skipped, or None to take it."""
        policy = self.settings.retrain
        if policy is None:
            return "retraining is not configured (alerts.actions.retrain)"
        if not policy.enabled:
            return "retraining is disabled (alerts.actions.retrain.enabled)"
        if not _applies(policy.models, model.name):
            return f"model {model.name!r} is not among alerts.actions.retrain.models"
        month = month_start(now)
        since = month
        if policy.min_interval is not None:
            since = min(since, now - timedelta(seconds=policy.min_interval))
        done = [
            r
            for r in self.store.read_actions(model, kind="retrain", since=since, limit=_MAX_READ)
            if r.taken and r.outcome == "sent"
        ]
        if trigger != "manual" and policy.min_interval is not None and done:
            last = done[0]
            if (now - last.decided_at).total_seconds() < policy.min_interval:
                return (
                    f"the last retrain was at {_iso(last.decided_at)} ({last.trigger}), less "
                    f"than {format_duration(policy.min_interval)} ago (min_interval)"
                )
        if policy.monthly_budget is not None:
            used = sum(1 for r in done if r.decided_at >= month)
            if used >= policy.monthly_budget:
                return (
                    f"{used} of {policy.monthly_budget} retrains this month are used "
                    f"(monthly_budget); the budget renews on {_iso(next_month(now))}"
                )
        return None

    def _decide(
        self,
        model: ModelInfo,
        kind: Kind,
        trigger: Trigger,
        reason: str,
        evidence: dict[str, Any],
        now: datetime,
        actor: str | None,
        skip: str | None,
        target: Target | None,
    ) -> ActionRecord:
        with self._lock:
            return self._decide_locked(
                model, kind, trigger, reason, evidence, now, actor, skip, target
            )

    def _decide_locked(
        self,
        model: ModelInfo,
        kind: Kind,
        trigger: Trigger,
        reason: str,
        evidence: dict[str, Any],
        now: datetime,
        actor: str | None,
        skip: str | None,
        target: Target | None,
    ) -> ActionRecord:
        """Take the action (call its target) unless `skip` says why not; record either way."""
        if skip is None and target is None:
            skip = f"no webhook or command is configured for {kind}"
        record = ActionRecord(
            id=uuid.uuid4().hex,
            model=model.name,
            kind=kind,
            trigger=trigger,
            decided_at=now,
            taken=skip is None,
            reason=reason if skip is None else f"skipped: {skip}. Asked for: {reason}",
            evidence=orjson.dumps(evidence).decode(),
            outcome=None,
        )
        if skip is None:
            assert target is not None
            outcome = call(target, decision_json(record, actor))
            record = replace(record, outcome=outcome)
        self.store.record_action(model, record)
        if record.outcome not in (None, "sent"):
            log.warning("model %s: %s (%s) failed: %s", model.name, kind, trigger, record.outcome)
        else:
            log.info(
                "model %s: %s (%s) %s",
                model.name,
                kind,
                trigger,
                "taken" if record.taken else "skipped",
            )
        return record

    # reading

    def history(
        self, model: ModelInfo, *, kind: str | None, since: datetime | None, limit: int
    ) -> list[ActionRecord]:
        """The model's decisions, newest first."""
        return self.store.read_actions(model, kind=kind, since=since, limit=limit)

    def summary(self, model: ModelInfo, now: datetime) -> RetrainSummary:
        """Last retrain, next scheduled, and this month's retrains by trigger."""
        policy = self.settings.retrain
        month = month_start(now)
        this_month = self.store.read_actions(model, kind="retrain", since=month, limit=_MAX_READ)
        counts: dict[str, int] = dict.fromkeys(RETRAIN_TRIGGERS, 0)
        for r in this_month:
            if r.taken and r.outcome == "sent":
                counts[r.trigger] = counts.get(r.trigger, 0) + 1
        last = next(
            (
                r
                for r in self.store.read_actions(model, kind="retrain", since=None, limit=1000)
                if r.taken and r.outcome == "sent"
            ),
            None,
        )
        scheduled = (
            policy is not None
            and policy.enabled
            and policy.schedule is not None
            and _applies(policy.models, model.name)
        )
        return RetrainSummary(
            model=model.name,
            last_at=None if last is None else last.decided_at,
            last_trigger=None if last is None else last.trigger,
            next_scheduled=(
                next_cron(policy.schedule, now)
                if scheduled and policy is not None and policy.schedule is not None
                else None
            ),
            this_month=counts,
            failed_this_month=sum(1 for r in this_month if r.taken and r.outcome != "sent"),
            skipped_this_month=sum(1 for r in this_month if not r.taken),
            monthly_budget=None if policy is None else policy.monthly_budget,
            min_interval=None if policy is None else policy.min_interval,
        )


# -- calling the target ---------------------------------------------------------------------


def decision_json(record: ActionRecord, actor: str | None = None) -> dict[str, Any]:
    """A decision as the webhook, the command, the API and the CLI see it."""
    return {
        "id": record.id,
        "model": record.model,
        "kind": record.kind,
        "trigger": record.trigger,
        "taken": record.taken,
        "reason": record.reason,
        "evidence": _loads(record.evidence),
        "decided_at": _iso(record.decided_at),
        "outcome": record.outcome,
        **({"actor": actor} if actor is not None else {}),
    }


def call(target: Target, decision: dict[str, Any]) -> str:
    """Call a webhook or run a command with the decision: "sent", or why it failed (never
    the URL, a header or the secret)."""
    payload = {
        k: decision[k]
        for k in ("id", "model", "kind", "trigger", "reason", "evidence", "decided_at")
    }
    if "actor" in decision:
        payload["actor"] = decision["actor"]
    if isinstance(target, CommandTarget):
        return _run(target, orjson.dumps(payload))
    if target.body == "airflow":  # POST /api/v1/dags/{dag_id}/dagRuns takes these two keys
        body = orjson.dumps(
            {"dag_run_id": f"vigil-{payload['kind']}-{payload['id']}", "conf": payload}
        )
    else:
        body = orjson.dumps(payload)
    headers = {**target.headers, "content-type": "application/json"}
    if target.secret:  # as vigil.alerts.notify.Webhook signs a notice
        stamp = str(int(time.time()))
        digest = hmac.new(target.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        headers["x-vigil-timestamp"] = stamp
        headers["x-vigil-signature"] = f"sha256={digest.hexdigest()}"
    try:
        with httpx.Client(follow_redirects=False, timeout=target.timeout) as client:
            answer = client.post(target.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return f"the webhook did not answer within {format_duration(int(target.timeout))}"
    except httpx.HTTPError as err:
        return f"the webhook could not be reached ({type(err).__name__})"
    if 200 <= answer.status_code < 300:
        return "sent"
    what = "a redirect, not followed" if 300 <= answer.status_code < 400 else "refused"
    return f"the webhook answered HTTP {answer.status_code} ({what})"


def _run(target: CommandTarget, body: bytes) -> str:
    try:
        done = subprocess.run(
            list(target.argv),
            input=body,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=target.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return (
            f"the command {target.argv[0]!r} did not finish within "
            f"{format_duration(int(target.timeout))} and was killed"
        )
    except OSError as err:
        return f"the command {target.argv[0]!r} could not start ({type(err).__name__})"
    if done.returncode != 0:
        return f"the command {target.argv[0]!r} exited with {done.returncode}"
    return "sent"


# -- time -----------------------------------------------------------------------------------


def last_cron(schedule: str, now: datetime) -> datetime:
    """The last time the cron schedule matched at or before `now` (naive UTC)."""
    previous: datetime = croniter(schedule, now).get_prev(datetime)
    following: datetime = croniter(schedule, previous).get_next(datetime)
    return following if following <= now else previous


def next_cron(schedule: str, now: datetime) -> datetime:
    """The next time the cron schedule matches after `now` (naive UTC)."""
    following: datetime = croniter(schedule, now).get_next(datetime)
    return following


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def format_duration(seconds: int) -> str:
    """`86400` as `1d`, `5400` as `90m`: the largest unit that divides it."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def _applies(models: tuple[str, ...] | None, name: str) -> bool:
    return models is None or name in models


def _alert_reason(trigger: str, views: Sequence[AlertView]) -> str:
    v = views[0]
    where = f" on {v.column}" if v.column else ""
    segment = f" [{v.segment}]" if v.segment else ""
    more = f" (and {len(views) - 1} more)" if len(views) > 1 else ""
    return (
        f"{trigger} alert {v.rule!r} {v.event} at {v.severity} for {v.model} "
        f"v{v.version}{where}{segment}: {v.message}{more}"
    )


def _loads(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
