"""An alert's life: pending → firing → resolved, one alert per (rule, model, version, column,
segment), decided by one pure function of the last state and the next finding.

- A breach opens a *pending* alert; it *fires* once the rule's `for` holds (windows in a row
  breached — the same window judged again, with more rows or labels, counts once — or a
  duration since the breach began). A clear finding drops a pending alert silently.
- A firing alert escalates from warning to critical in place (the same alert, an
  `escalated` event) and keeps its highest severity until it resolves; while it fires, a
  `repeated` event comes every `repeat` seconds after the last notification.
- It *resolves* after `resolve_after` clear findings in a row (hysteresis: a value hovering
  at the level does not open and close an alert each window); a breach in between resets
  the count.
- After it resolves, the same key does not open again within `cooldown` seconds.

A point the rule could not judge gives no finding (`vigil.alerts.judge`), so it changes
nothing here. Storage, silences and notification are the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from vigil.alerts.judge import AlertKey, Finding
from vigil.alerts.rules import Rule, Severity

AlertStatus = Literal["pending", "firing", "resolved"]
EventKind = Literal["opened", "escalated", "repeated", "resolved"]
_RANK = {"warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Policy:
    """Notification timing shared by every rule: seconds, None for never."""

    cooldown: int = 0
    repeat: int | None = 4 * 3600


@dataclass(frozen=True, slots=True)
class AlertState:
    key: AlertKey
    status: AlertStatus
    severity: Severity
    began: datetime  # when the breach that opened it was first seen
    changed: datetime  # when it last changed status (fired, resolved)
    breached: int  # breached findings in a row (while pending)
    clear: int  # clear findings in a row (while firing)
    notified: datetime | None  # last opened / escalated / repeated event
    finding: Finding  # the latest evidence


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    alert: AlertState


def step(
    state: AlertState | None,
    finding: Finding,
    rule: Rule,
    now: datetime,
    policy: Policy = Policy(),
) -> tuple[AlertState | None, Event | None]:
    """The alert after `finding`, and the event it makes (None: nothing to tell)."""
    severity = finding.severity
    if state is None or state.status == "resolved":
        if severity is None:
            return state, None
        if state is not None and (now - state.changed).total_seconds() < policy.cooldown:
            return state, None
        pending = AlertState(finding.key, "pending", severity, now, now, 1, 0, None, finding)
        return _maybe_fire(pending, rule, now)
    if state.status == "pending":
        if severity is None:
            return None, None
        # the same window judged again (more rows, more labels) is not another window in a row
        again = (finding.point.kind, finding.point.start) == (
            state.finding.point.kind,
            state.finding.point.start,
        )
        grown = replace(
            state,
            severity=_higher(state.severity, severity),
            breached=state.breached + (0 if again else 1),
            finding=finding,
        )
        return _maybe_fire(grown, rule, now)
    # firing
    if severity is None:
        clear = state.clear + 1
        if clear >= rule.resolve_after:
            resolved = replace(state, status="resolved", changed=now, clear=clear, finding=finding)
            return resolved, Event("resolved", resolved)
        return replace(state, clear=clear, finding=finding), None
    kept = replace(state, clear=0, finding=finding)
    if _RANK[severity] > _RANK[state.severity]:
        escalated = replace(kept, severity=severity, notified=now)
        return escalated, Event("escalated", escalated)
    due = (
        policy.repeat is not None
        and state.notified is not None
        and (now - state.notified).total_seconds() >= policy.repeat
    )
    if due:
        repeated = replace(kept, notified=now)
        return repeated, Event("repeated", repeated)
    return kept, None


def _maybe_fire(state: AlertState, rule: Rule, now: datetime) -> tuple[AlertState, Event | None]:
    hold = rule.hold
    held = (
        state.breached >= hold.evaluations
        if hold.seconds is None
        else (now - state.began).total_seconds() >= hold.seconds
    )
    if not held:
        return state, None
    firing = replace(state, status="firing", changed=now, clear=0, notified=now)
    return firing, Event("opened", firing)


def _higher(a: Severity, b: Severity) -> Severity:
    return a if _RANK[a] >= _RANK[b] else b
