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

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import orjson
import pyarrow as pa
from croniter import croniter

from vigil.alerts.action_settings import (
    ActionSettings,
    ChallengerPlan,
    RetrainPolicy,
    RollbackPolicy,
    parse_actions,
)
from vigil.alerts.action_targets import (
    CommandTarget,
    HookTarget,
    Target,
    call,
    decision_json,
    format_duration,
    iso,
    loads,
)
from vigil.alerts.challenger import Comparison, compare
from vigil.alerts.notice import AlertView
from vigil.alerts.notify import alert_json
from vigil.store.base import ActionRecord, ModelInfo, utcnow

__all__ = [
    "ActionSettings",
    "ActionStore",
    "Actions",
    "ChallengerPlan",
    "CommandTarget",
    "HookTarget",
    "RetrainPolicy",
    "RetrainSummary",
    "RollbackPolicy",
    "Target",
    "call",
    "decision_json",
    "last_cron",
    "next_cron",
    "parse_actions",
]

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
        # one decision at a time: the policy reads, then writes (re-entered by `_retrain`)
        self._lock = threading.RLock()
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
        reason = f"the schedule {policy.schedule!r} (UTC) was due at {iso(slot)}"
        evidence = {"schedule": policy.schedule, "due": iso(slot)}
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
            (r, loads(r.evidence))
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
            skip = f"already promoted at {iso(promoted.decided_at)}; {result.reason}"
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
            return self._decide(
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
                    f"the last retrain was at {iso(last.decided_at)} ({last.trigger}), less "
                    f"than {format_duration(policy.min_interval)} ago (min_interval)"
                )
        if policy.monthly_budget is not None:
            used = sum(1 for r in done if r.decided_at >= month)
            if used >= policy.monthly_budget:
                return (
                    f"{used} of {policy.monthly_budget} retrains this month are used "
                    f"(monthly_budget); the budget renews on {iso(next_month(now))}"
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
        """Take the action (call its target) unless `skip` says why not; record either way."""
        with self._lock:
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
                log.warning(
                    "model %s: %s (%s) failed: %s", model.name, kind, trigger, record.outcome
                )
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
