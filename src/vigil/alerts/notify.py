"""Notifiers: a `Notice` sent to a generic webhook, Slack, PagerDuty (Events API v2), email
(SMTP) or Prometheus Alertmanager (`POST /api/v2/alerts`).

Each `send` either returns (the receiver took it) or raises `DeliveryError` with a reason that
names the notifier, never its secret: webhook URLs, routing keys and SMTP passwords stay out of
messages, reprs and logs. Redirects are not followed (a redirect to another host would carry
the notice past the allow-list), so a 3xx is a failure like a 4xx or 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
import orjson

from vigil.alerts.notice import AlertView, Notice


class DeliveryError(Exception):
    """A receiver did not take a notice; the message names the notifier, never its secret."""


class Notifier(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, notice: Notice) -> None: ...


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def alert_json(alert: AlertView) -> dict[str, Any]:
    return {
        "event": alert.event,
        "id": alert.alert_id,
        "rule": alert.rule,
        "model": alert.model,
        "version": alert.version,
        "column": alert.column,
        "segment": alert.segment,
        "severity": alert.severity,
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "baseline": alert.baseline,
        "window_start": _iso(alert.window_start),
        "window_end": _iso(alert.window_end),
        "message": alert.message,
        "began": _iso(alert.began),
        "resolved_at": _iso(alert.resolved_at),
        "dedup_key": alert.dedup_key,
        "link": alert.link,
    }


def _post(name: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout) as client:
            answer = client.post(url, content=body, headers=dict(headers))
    except httpx.HTTPError as err:
        # the URL may hold the secret (Slack, webhook tokens): name the kind of failure only
        raise DeliveryError(
            f"{name}: the receiver could not be reached ({type(err).__name__})"
        ) from None
    if not 200 <= answer.status_code < 300:
        what = "a redirect, not followed" if 300 <= answer.status_code < 400 else "refused"
        raise DeliveryError(f"{name}: the receiver answered HTTP {answer.status_code} ({what})")


@dataclass(frozen=True, slots=True)
class Webhook:
    """A JSON body; with a secret, `X-Vigil-Timestamp` and `X-Vigil-Signature: sha256=<hex>`,
    the HMAC-SHA256 of `<timestamp>.<body>` (a receiver rejects old timestamps: no replay)."""

    name: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0

    def send(self, notice: Notice) -> None:
        body = orjson.dumps(
            {
                "model": notice.model,
                "summary": notice.summary,
                "severity": notice.severity,
                "created": _iso(notice.created),
                "alerts": [alert_json(a) for a in notice.alerts],
            }
        )
        headers = {**self.headers, "content-type": "application/json"}
        if self.secret:
            stamp = str(int(time.time()))
            digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            headers["x-vigil-timestamp"] = stamp
            headers["x-vigil-signature"] = f"sha256={digest.hexdigest()}"
        _post(self.name, self.url, body, headers, self.timeout)


def _slack_line(alert: AlertView) -> str:
    icon = {"resolved": ":white_check_mark:", "critical": ":red_circle:"}.get(
        "resolved" if alert.event == "resolved" else alert.severity, ":large_yellow_circle:"
    )
    text = f"{icon} *{alert.event}* `{alert.rule}`: {alert.message}"
    if alert.link:
        text += f" (<{alert.link}|window report>)"
    return text


@dataclass(frozen=True, slots=True)
class Slack:
    """An incoming-webhook message: a header block, then one section per alert."""

    name: str
    url: str = field(repr=False)
    timeout: float = 10.0

    def send(self, notice: Notice) -> None:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": notice.summary[:150]}}
        ]
        for alert in notice.alerts[:48]:  # Slack takes at most 50 blocks
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _slack_line(alert)[:3000]}}
            )
        if len(notice.alerts) > 48:
            more = len(notice.alerts) - 48
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]}
            )
        body = orjson.dumps({"text": notice.summary, "blocks": blocks})
        _post(self.name, self.url, body, {"content-type": "application/json"}, self.timeout)


PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True, slots=True)
class PagerDuty:
    """Events API v2: one event per alert — `trigger` while it fires, `resolve` when it
    resolves — under the alert's dedup key, so PagerDuty folds repeats into one incident."""

    name: str
    routing_key: str = field(repr=False)
    url: str = PAGERDUTY_URL
    timeout: float = 10.0

    def send(self, notice: Notice) -> None:
        for alert in notice.alerts:
            event: dict[str, Any] = {
                "routing_key": self.routing_key,
                "event_action": "resolve" if alert.event == "resolved" else "trigger",
                "dedup_key": alert.dedup_key,
            }
            if alert.event != "resolved":
                event["payload"] = {
                    "summary": f"{alert.title}: {alert.message}"[:1024],
                    "source": f"vigil/{alert.model}",
                    "severity": alert.severity,
                    "timestamp": _iso(alert.began),
                    "component": alert.column or alert.metric,
                    "group": alert.model,
                    "class": alert.rule,
                    "custom_details": alert_json(alert),
                }
                if alert.link:
                    event["links"] = [{"href": alert.link, "text": "window report"}]
            headers = {"content-type": "application/json"}
            _post(self.name, self.url, orjson.dumps(event), headers, self.timeout)


@dataclass(frozen=True, slots=True)
class Alertmanager:
    """Alertmanager's API v2: each alert with its labels; a resolved one with `endsAt` at its
    resolution, so Alertmanager routes, groups, silences and resolves it as its own."""

    name: str
    url: str  # the base, e.g. http://alertmanager:9093
    timeout: float = 10.0

    def send(self, notice: Notice) -> None:
        alerts = []
        for alert in notice.alerts:
            labels = {
                "alertname": alert.rule,
                "model": alert.model,
                "version": alert.version,
                "severity": alert.severity,
                "metric": alert.metric,
                "source": "vigil",
            }
            if alert.column:
                labels["column"] = alert.column
            if alert.segment:
                labels["segment"] = alert.segment
            item: dict[str, Any] = {
                "labels": labels,
                "annotations": {"summary": alert.message, "value": str(alert.value)},
                "startsAt": _iso(alert.began),
            }
            if alert.resolved_at is not None:
                item["endsAt"] = _iso(alert.resolved_at)
            if alert.link:
                item["generatorURL"] = alert.link
            alerts.append(item)
        url = self.url.rstrip("/") + "/api/v2/alerts"
        body = orjson.dumps(alerts)
        _post(self.name, url, body, {"content-type": "application/json"}, self.timeout)


@dataclass(frozen=True, slots=True)
class Email:
    """A plain-text mail over SMTP, STARTTLS when asked (and then the server's certificate is
    checked against `ca_file`, or the system's authorities)."""

    name: str
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 10.0

    def send(self, notice: Notice) -> None:
        mail = EmailMessage()
        mail["Subject"] = notice.summary
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        lines = []
        for alert in notice.alerts:
            lines.append(f"{alert.event.upper()} {alert.title}\n  {alert.message}")
            if alert.link:
                lines.append(f"  {alert.link}")
        mail.set_content("\n".join(lines) + "\n")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    context = ssl.create_default_context(cafile=self.ca_file)
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as err:
            raise DeliveryError(f"{self.name}: the SMTP server answered {err.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"{self.name}: the SMTP server refused every recipient") from None
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(
                f"{self.name}: the SMTP server could not be used ({type(err).__name__})"
            ) from None
