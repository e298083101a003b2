"""What a notification says: the alerts of one model that changed in one evaluation, grouped
into one `Notice` — one message per model per evaluation, not one per column."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from vigil.alerts.lifecycle import Event, EventKind

_RANK = {"warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as receivers see it."""

    event: EventKind  # opened, escalated, repeated, resolved
    rule: str
    model: str
    version: str
    column: str  # "" for a figure of the whole window
    segment: str  # "" for the whole window
    severity: str  # warning | critical
    metric: str
    value: float | None
    threshold: float
    baseline: float | None
    window_start: datetime
    window_end: datetime
    message: str
    began: datetime  # when the breach was first seen
    resolved_at: datetime | None
    alert_id: str | None = None
    link: str | None = None  # the window's report

    @property
    def dedup_key(self) -> str:
        """The same for every event of one alert key, at most 255 characters (PagerDuty's
        limit): receivers that deduplicate fold repeats and resolve the right incident."""
        key = "/".join(("vigil", self.rule, self.model, self.version, self.column, self.segment))
        if len(key) <= 255:
            return key
        return "vigil/" + hashlib.sha256(key.encode()).hexdigest()

    @property
    def title(self) -> str:
        where = f" {self.column}" if self.column else ""
        segment = f" [{self.segment}]" if self.segment else ""
        return f"{self.severity} {self.rule}: {self.model} v{self.version}{where}{segment}"


@dataclass(frozen=True, slots=True)
class Notice:
    """The alerts of one model that opened, escalated, repeated or resolved in one evaluation."""

    model: str
    alerts: tuple[AlertView, ...]
    created: datetime

    @property
    def severity(self) -> str:
        """The worst severity among the alerts still firing (or among all when all resolved)."""
        firing = [a for a in self.alerts if a.event != "resolved"] or list(self.alerts)
        return max((a.severity for a in firing), key=lambda s: _RANK.get(s, 0), default="warning")

    @property
    def summary(self) -> str:
        counts: dict[str, int] = {}
        for alert in self.alerts:
            counts[alert.event] = counts.get(alert.event, 0) + 1
        parts = [f"{n} {kind}" for kind, n in sorted(counts.items())]
        return f"[vigil] {self.model}: {', '.join(parts)}"


def view(event: Event, *, alert_id: str | None = None, link: str | None = None) -> AlertView:
    """A lifecycle event as receivers see it."""
    state = event.alert
    finding = state.finding
    point = finding.point
    rule, model, version, column, segment = state.key
    return AlertView(
        event=event.kind,
        rule=rule,
        model=model,
        version=version,
        column=column,
        segment=segment,
        severity=state.severity,
        metric=point.metric,
        value=point.value,
        threshold=finding.threshold,
        baseline=finding.baseline,
        window_start=point.start,
        window_end=point.end,
        message=finding.message,
        began=state.began,
        resolved_at=state.changed if state.status == "resolved" else None,
        alert_id=alert_id,
        link=link,
    )


_TIMES = ("window_start", "window_end", "began", "resolved_at")


def notice_json(notice: Notice) -> str:
    """A notice as the JSON the outbox keeps (every field, times in ISO-8601)."""
    alerts = []
    for alert in notice.alerts:
        item: dict[str, Any] = {f: getattr(alert, f) for f in AlertView.__dataclass_fields__}
        for name in _TIMES:
            moment = item[name]
            item[name] = None if moment is None else moment.isoformat()
        alerts.append(item)
    body = {"model": notice.model, "created": notice.created.isoformat(), "alerts": alerts}
    return orjson.dumps(body).decode()


def notice_from_json(text: str) -> Notice:
    """The notice `notice_json` wrote."""
    data = orjson.loads(text)
    alerts = []
    for item in data["alerts"]:
        for name in _TIMES:
            if item[name] is not None:
                item[name] = datetime.fromisoformat(item[name])
        alerts.append(AlertView(**item))
    return Notice(data["model"], tuple(alerts), datetime.fromisoformat(data["created"]))
