"""Notifiers from the config: destinations checked against the allow-list, routes by severity
and model, and every mistake a ConfigError naming the notifier and the key (never the URL,
which may be the secret)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.alerts.test_notify import notice

from vigil.alerts.destinations import parse_allow, parse_routes
from vigil.alerts.notify import Alertmanager, Email, PagerDuty, Slack, Webhook
from vigil.errors import ConfigError

CONFIG = """
allow: [hooks.slack.com, events.pagerduty.com, "127.0.0.1:9093", smtp.example.org]
notify:
  - name: ops-slack
    slack: {url: "https://hooks.slack.com/services/T0/B0/xoxsecret"}
  - name: oncall
    pagerduty: {routing_key: R0UTE}
    severity: critical
    models: [credit]
  - name: am
    alertmanager: {url: "http://127.0.0.1:9093"}
  - name: mail
    email: {host: smtp.example.org, port: 587, starttls: true, from: v@x.org, to: ml@x.org,
            username: vigil, password: pa55}
  - name: hook
    webhook: {url: "https://hooks.slack.com/x", secret: s, headers: {X-Team: ml}, timeout: 5s}
"""


def test_the_documented_config_parses_to_its_notifiers_and_routes() -> None:
    data = yaml.safe_load(CONFIG)
    routes = {r.notifier.name: r for r in parse_routes(data["notify"], parse_allow(data["allow"]))}
    assert isinstance(routes["ops-slack"].notifier, Slack)
    pd = routes["oncall"]
    assert isinstance(pd.notifier, PagerDuty) and pd.notifier.routing_key == "R0UTE"
    assert pd.severity == "critical" and pd.models == ("credit",)
    assert isinstance(routes["am"].notifier, Alertmanager)
    mail = routes["mail"].notifier
    assert isinstance(mail, Email) and mail.to == ("ml@x.org",) and mail.starttls
    hook = routes["hook"].notifier
    assert isinstance(hook, Webhook) and hook.headers == {"X-Team": "ml"} and hook.timeout == 5


def test_routes_take_their_severity_and_models() -> None:
    data = yaml.safe_load(CONFIG)
    routes = {r.notifier.name: r for r in parse_routes(data["notify"], parse_allow(data["allow"]))}
    sent = notice()  # credit: psi opened critical, latency resolved (warning)
    critical_only = routes["oncall"].select(sent)
    assert critical_only is not None and [a.rule for a in critical_only.alerts] == ["psi"]
    assert routes["ops-slack"].select(sent) == sent
    other = type(sent)("fraud", sent.alerts, sent.created)
    assert routes["oncall"].select(other) is None


def test_routes_match_labels_by_glob() -> None:
    sent = notice()  # credit: psi on age (critical, drift.psi), latency ("", ops.*)
    allow = parse_allow(["hooks.example.org"])

    def route(match: Any) -> Any:
        (r,) = parse_routes(
            [{"name": "r", "webhook": {"url": "https://hooks.example.org/x"}, "match": match}],
            allow,
        )
        return r

    drift_only = route({"metric": "drift.*"}).select(sent)
    assert drift_only is not None and [a.rule for a in drift_only.alerts] == ["psi"]
    by_column = route({"rule": ["ps*", "nothing"], "column": "age"}).select(sent)
    assert by_column is not None and [a.column for a in by_column.alerts] == ["age"]
    assert route({"column": "income"}).select(sent) is None  # nothing matches: no notice
    assert route({}).select(sent) == sent


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ({"model": "x"}, "unknown key(s) model"),
        ({"rule": []}, "expected a glob"),
        ({"rule": 3}, "expected a glob"),
        ("psi-*", "expected a mapping"),
    ],
)
def test_route_match_mistakes(match: Any, words: str) -> None:
    item = {"name": "r", "webhook": {"url": "https://hooks.example.org/x"}, "match": match}
    with pytest.raises(ConfigError) as err:
        parse_routes([item], ["hooks.example.org"])
    assert words in str(err.value) and "'r'.match" in str(err.value)


BAD: list[tuple[Any, str]] = [
    (
        {"name": "s", "slack": {"url": "https://evil.example/x"}},
        "notifier 's'.slack.url: the host evil.example:443 is not on alerts.allow",
    ),
    (
        {"name": "s", "slack": {"url": "http://hooks.slack.com.evil.example/x"}},
        "not on alerts.allow",
    ),
    ({"name": "a", "alertmanager": {"url": "http://127.0.0.1:9094"}}, "127.0.0.1:9094 is not on"),
    ({"name": "s", "slack": {"url": "ftp://hooks.slack.com/x"}}, "expected an http(s) URL"),
    ({"name": "s", "slack": {"url": "https://hooks.slack.com:http/x"}}, "port is not a number"),
    ({"name": "s", "slack": {}}, "notifier 's'.slack.url: expected an http(s) URL"),
    (
        {"name": "s", "slack": {"url": "https://hooks.slack.com/x", "token": 1}},
        "unknown key(s) token",
    ),
    ({"name": "s"}, "give exactly one of webhook, slack"),
    (
        {"name": "s", "slack": {"url": "https://hooks.slack.com/x"}, "severity": "info"},
        "notifier 's'.severity: expected warning or critical",
    ),
    (
        {"name": "s", "slack": {"url": "https://hooks.slack.com/x"}, "models": "credit"},
        "notifier 's'.models",
    ),
    ({"name": "p", "pagerduty": {}}, "notifier 'p'.pagerduty.routing_key: expected text"),
    ({"name": "m", "email": {"host": "smtp.example.org", "from": "a@b", "to": []}}, "email.to"),
    (
        {"name": "m", "email": {"host": "mail.evil.example", "from": "a@b", "to": "c@d"}},
        "mail.evil.example:25 is not on alerts.allow",
    ),
    (
        {"name": "m", "email": {"host": "smtp.example.org", "port": "x", "from": "a", "to": "b"}},
        "email.port: expected a port number",
    ),
    (
        {"name": "w", "webhook": {"url": "https://hooks.slack.com/x", "headers": {"a": 1}}},
        "webhook.headers",
    ),
    (
        {"name": "w", "webhook": {"url": "https://hooks.slack.com/x", "timeout": "soon"}},
        "webhook.timeout",
    ),
]


@pytest.mark.parametrize(("item", "words"), BAD)
def test_each_mistake_names_the_notifier_and_the_key(item: Any, words: str) -> None:
    allow = parse_allow(
        ["hooks.slack.com", "127.0.0.1:9093", "smtp.example.org", "events.pagerduty.com"]
    )
    with pytest.raises(ConfigError) as caught:
        parse_routes([item], allow)
    assert words in str(caught.value)
    assert "xoxsecret" not in str(caught.value)


def test_a_secret_url_refused_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routes([{"name": "s", "slack": {"url": "https://evil.example/T0/xoxsecret"}}], ())
    assert "xoxsecret" not in str(caught.value)
    with pytest.raises(ConfigError, match="two notifiers are named 's'"):
        slack = {"name": "s", "slack": {"url": "https://hooks.slack.com/x"}}
        parse_routes([slack, slack], ("hooks.slack.com",))
    with pytest.raises(ConfigError, match=r"alerts\.allow: expected a list of hosts"):
        parse_allow("hooks.slack.com")
