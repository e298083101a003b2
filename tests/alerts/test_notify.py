"""Each notifier against a real receiver on 127.0.0.1: an HTTP server for the webhook, Slack
and PagerDuty shapes, aiosmtpd for email, and a real Alertmanager whose API then lists the
alert. Failures are DeliveryErrors that never carry the notifier's secret."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import subprocess
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from tests.alerts.receivers import AlertmanagerProcess, Recorder, free_port

from vigil.alerts import Finding, parse_rules, step
from vigil.alerts.notice import Notice, view
from vigil.alerts.notify import Alertmanager, DeliveryError, Email, PagerDuty, Slack, Webhook
from vigil.store.base import MetricPoint

T0 = datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
SECRET_URL_PATH = "/services/T0SECRET/B0SECRET/xoxsecrettoken"


def notice() -> Notice:
    """A model's evaluation: age's PSI opened critical, latency's alert resolved."""
    rules = {
        r.name: r
        for r in parse_rules(
            [
                {"name": "psi", "metric": "drift.psi", "above": {"warning": 0.1, "critical": 0.25}},
                {
                    "name": "latency",
                    "metric": "ops.latency_p99_ms",
                    "above": 100,
                    "resolve_after": 1,
                },
            ]
        )
    }
    age = MetricPoint("3", "tumbling", "", T0, T0 + HOUR, "drift.psi", "age", 0.31, "critical")
    opened = step(
        None,
        Finding("psi", "credit", age, "critical", 0.25, None, "drift.psi of 'age' is 0.31"),
        rules["psi"],
        T0 + HOUR,
    )[1]
    lat = MetricPoint("3", "tumbling", "", T0 - HOUR, T0, "ops.latency_p99_ms", "", 180.0, "none")
    firing, _ = step(
        None,
        Finding("latency", "credit", lat, "warning", 100.0, None, "slow"),
        rules["latency"],
        T0,
    )
    ok = MetricPoint("3", "tumbling", "", T0, T0 + HOUR, "ops.latency_p99_ms", "", 40.0, "none")
    resolved = step(
        firing,
        Finding("latency", "credit", ok, None, 100.0, None, "fine"),
        rules["latency"],
        T0 + HOUR,
    )[1]
    assert opened is not None and resolved is not None
    link = "http://vigil.example/models/credit/windows/2026-11-02T10:00:00Z"
    return Notice("credit", (view(opened, alert_id="a1", link=link), view(resolved)), T0 + HOUR)


def test_webhook_body_and_signature_verify_with_the_secret() -> None:
    with Recorder() as hook:
        Webhook("hook", hook.url("/in"), secret="s3cret", headers={"X-Team": "ml"}).send(notice())
        (got,) = hook.received
    body = json.loads(got.body)
    assert body["model"] == "credit" and body["severity"] == "critical"
    assert body["summary"] == "[vigil] credit: 1 opened, 1 resolved"
    first, second = body["alerts"]
    assert (first["event"], first["rule"], first["column"], first["value"]) == (
        "opened",
        "psi",
        "age",
        0.31,
    )
    assert first["threshold"] == 0.25 and first["window_start"] == "2026-11-02T10:00:00Z"
    assert first["dedup_key"] == "vigil/psi/credit/3/age/"
    assert (second["event"], second["resolved_at"]) == ("resolved", "2026-11-02T11:00:00Z")
    assert got.headers["x-team"] == "ml"
    stamp = got.headers["x-vigil-timestamp"]
    assert abs(int(stamp) - time.time()) < 300
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-vigil-signature"] == f"sha256={expected}"


def test_slack_gets_one_message_with_a_block_per_alert() -> None:
    with Recorder() as slack:
        Slack("ops", slack.url(SECRET_URL_PATH)).send(notice())
        (got,) = slack.received
    body = json.loads(got.body)
    assert body["text"] == "[vigil] credit: 1 opened, 1 resolved"
    header, *sections = body["blocks"]
    assert header["type"] == "header" and len(sections) == 2
    assert ":red_circle: *opened* `psi`" in sections[0]["text"]["text"]
    assert "|window report>" in sections[0]["text"]["text"]
    assert sections[1]["text"]["text"].startswith(":white_check_mark: *resolved*")


def test_pagerduty_triggers_and_resolves_under_one_dedup_key_per_alert() -> None:
    with Recorder() as pd:
        PagerDuty("oncall", "R0UTINGKEY", url=pd.url("/v2/enqueue")).send(notice())
        trigger, resolve = (json.loads(r.body) for r in pd.received)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["dedup_key"] == "vigil/psi/credit/3/age/"
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "vigil/credit"
    assert payload["summary"].startswith("critical psi: credit v3 age")
    assert trigger["links"][0]["href"].startswith("http://vigil.example/")
    assert resolve == {
        "routing_key": "R0UTINGKEY",
        "event_action": "resolve",
        "dedup_key": "vigil/latency/credit/3//",
    }


def test_failures_name_the_notifier_and_never_the_secret() -> None:
    with Recorder(
        answers={SECRET_URL_PATH: (500, {}), "/moved": (302, {"location": "http://evil.example/"})}
    ) as r:
        with pytest.raises(DeliveryError) as caught:
            Slack("ops", r.url(SECRET_URL_PATH)).send(notice())
        assert str(caught.value) == "ops: the receiver answered HTTP 500 (refused)"
        with pytest.raises(DeliveryError, match=r"HTTP 302 \(a redirect, not followed\)"):
            Webhook("hook", r.url("/moved"), secret="s3cret").send(notice())
        assert [x.path for x in r.received] == [SECRET_URL_PATH, "/moved"]  # nothing followed
    closed = f"http://127.0.0.1:{free_port()}{SECRET_URL_PATH}"
    with pytest.raises(DeliveryError) as caught:
        Slack("ops", closed, timeout=2).send(notice())
    assert "could not be reached (ConnectError)" in str(caught.value)
    for text in (
        str(caught.value),
        repr(Slack("ops", closed)),
        repr(PagerDuty("p", "R0UTINGKEY")),
        repr(Webhook("w", closed, secret="s3cret")),
        repr(Email("m", "h", 25, "a@b", ("c@d",), password="pa55")),
    ):
        for secret in ("xoxsecrettoken", "R0UTINGKEY", "s3cret", "pa55"):
            assert secret not in text


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


def test_email_over_smtp_and_an_smtp_server_that_refuses() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = Email("mail", "127.0.0.1", port, "vigil@example.org", ("ml@example.org",))
        mail.send(notice())
        (got,) = inbox.messages
        assert got["Subject"] == "[vigil] credit: 1 opened, 1 resolved"
        assert got["To"] == "ml@example.org"
        text = got.get_payload()
        assert "OPENED critical psi: credit v3 age" in text and "RESOLVED" in text
        inbox.refuse = True
        with pytest.raises(DeliveryError, match="mail: the SMTP server refused every recipient"):
            mail.send(notice())
    finally:
        controller.stop()


def test_email_with_starttls_checks_the_servers_certificate(tmp_path: Path) -> None:
    import ssl

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()

    class TLSController(Controller):
        def factory(self):  # type: ignore[no-untyped-def]
            return SMTPServer(self.handler, require_starttls=True, tls_context=context)

    controller = TLSController(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        Email(
            "mail",
            "127.0.0.1",
            port,
            "v@example.org",
            ("ml@example.org",),
            starttls=True,
            ca_file=str(cert),
        ).send(notice())
        assert len(inbox.messages) == 1
        with pytest.raises(DeliveryError, match="could not be used"):  # untrusted certificate
            Email(
                "mail", "127.0.0.1", port, "v@example.org", ("ml@example.org",), starttls=True
            ).send(notice())
        with pytest.raises(DeliveryError, match="answered 530"):  # STARTTLS required
            Email("mail", "127.0.0.1", port, "v@example.org", ("ml@example.org",)).send(notice())
    finally:
        controller.stop()


def test_alertmanager_lists_the_alert_and_takes_its_resolution(tmp_path: Path) -> None:
    with AlertmanagerProcess(tmp_path) as am:
        sent = notice()
        Alertmanager("am", am.url).send(sent)
        listed = {
            a["labels"]["alertname"]: a
            for a in am.alerts(active="true", inhibited="true", silenced="true", unprocessed="true")
        }
        psi = listed["psi"]
        assert psi["labels"] == {
            "alertname": "psi",
            "model": "credit",
            "version": "3",
            "severity": "critical",
            "metric": "drift.psi",
            "column": "age",
            "source": "vigil",
        }
        assert psi["annotations"]["summary"] == "drift.psi of 'age' is 0.31"
        assert psi["generatorURL"].startswith("http://vigil.example/")
        assert psi["status"]["state"] in ("active", "unprocessed")
        # the latency alert was sent resolved (endsAt in the past): Alertmanager keeps it
        # out of the active alerts
        assert "latency" not in listed
        # resolving psi the same way
        done = replace(
            sent.alerts[0],
            event="resolved",
            resolved_at=datetime.now(timezone.utc) - timedelta(seconds=1),
        )
        resolved = Notice("credit", (done,), T0)
        Alertmanager("am", am.url).send(resolved)
        active = [a["labels"]["alertname"] for a in am.alerts(active="true")]
        assert "psi" not in active
