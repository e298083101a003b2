"""Where notices go: notifiers read from the config (`alerts.notify`), each destination checked
against the allow-list (`alerts.allow`), and routes by severity and model.

```yaml
alerts:
  allow: [hooks.slack.com, events.pagerduty.com, "alertmanager:9093", smtp.example.com]
  notify:
    - name: ops-slack
      slack: {url: https://hooks.slack.com/services/T000/B000/XXXX}
      severity: warning            # this severity and above (the default)
    - name: oncall
      pagerduty: {routing_key: R0123456789}
      severity: critical
      models: [credit]
```

An allow-list entry is a host (any port) or `host:port`; a destination whose host is not on it
is refused when the config is read, naming the notifier and the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from vigil.alerts.fields import only
from vigil.alerts.notice import AlertView, Notice
from vigil.alerts.notify import (
    PAGERDUTY_URL,
    Alertmanager,
    Email,
    Notifier,
    PagerDuty,
    Slack,
    Webhook,
)
from vigil.alerts.rules import SEVERITIES, Severity
from vigil.errors import ConfigError
from vigil.units import parse_duration

_KINDS = ("webhook", "slack", "pagerduty", "email", "alertmanager")
_RANK = {"warning": 1, "critical": 2}


MATCH_KEYS = ("rule", "version", "column", "segment", "metric")


@dataclass(frozen=True, slots=True)
class Route:
    """A notifier and the notices it takes: alerts at `severity` or above, of `models`, whose
    labels match `match` (each key's value one of its globs: `rule: [psi-*, default.*]`)."""

    notifier: Notifier
    severity: Severity = "warning"
    models: tuple[str, ...] | None = None
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def takes(self, alert: AlertView) -> bool:
        """Whether this route takes `alert` (its model aside)."""
        if _RANK[alert.severity] < _RANK[self.severity]:
            return False
        return all(
            any(fnmatchcase(str(getattr(alert, key)), glob) for glob in globs)
            for key, globs in self.match
        )

    def select(self, notice: Notice) -> Notice | None:
        """The part of `notice` this route takes, or None."""
        if self.models is not None and notice.model not in self.models:
            return None
        kept = tuple(a for a in notice.alerts if self.takes(a))
        if not kept:
            return None
        return Notice(notice.model, kept, notice.created)


def parse_routes(
    data: Any, allow: Sequence[str], where: str = "alerts.notify"
) -> tuple[Route, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of notifiers.")
    routes = []
    names: set[str] = set()
    for i, item in enumerate(data):
        route = _route(item, allow, f"{where}[{i}]")
        if route.notifier.name in names:
            raise ConfigError(f"{where}: two notifiers are named {route.notifier.name!r}.")
        names.add(route.notifier.name)
        routes.append(route)
    return tuple(routes)


def parse_allow(data: Any, where: str = "alerts.allow") -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not all(isinstance(v, str) and v for v in data):
        raise ConfigError(f"{where}: expected a list of hosts (host or host:port).")
    return tuple(v.lower() for v in data)


def _route(item: Any, allow: Sequence[str], where: str) -> Route:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ConfigError(
            f"{where}: expected a mapping with a name and one of {', '.join(_KINDS)}."
        )
    name = item["name"]
    where = f"notifier {name!r}"
    unknown = sorted(set(map(str, item)) - {"name", "severity", "models", "match", *_KINDS})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}.")
    kinds = [k for k in _KINDS if k in item]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(_KINDS)}.")
    kind = kinds[0]
    settings = item[kind]
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where}.{kind}: expected a mapping.")
    notifier = _notifier(name, kind, settings, allow, f"{where}.{kind}")
    severity = item.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}.severity: expected warning or critical; got {severity!r}.")
    models = item.get("models", "*")
    if models != "*" and (
        not isinstance(models, list) or not all(isinstance(m, str) for m in models)
    ):
        raise ConfigError(f'{where}.models: expected "*" or a list of model names.')
    return Route(
        notifier,
        severity,
        None if models == "*" else tuple(models),
        _match(item.get("match", {}), f"{where}.match"),
    )


def _match(data: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`match: {rule: psi-*, column: [income, age]}`: each key's value is a glob or a list."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(MATCH_KEYS)} to globs.")
    only(data, set(MATCH_KEYS), where)
    out = []
    for key, value in data.items():
        globs = [value] if isinstance(value, str) else value
        if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
            raise ConfigError(f"{where}.{key}: expected a glob such as psi-* or a list of them.")
        out.append((str(key), tuple(globs)))
    return tuple(out)


def _notifier(
    name: str, kind: str, s: Mapping[str, Any], allow: Sequence[str], where: str
) -> Notifier:
    timeout = float(parse_duration(s.get("timeout", 10), f"{where}.timeout"))
    if kind == "email":
        only(
            s,
            {
                "host",
                "port",
                "from",
                "to",
                "starttls",
                "username",
                "password",
                "ca_file",
                "timeout",
            },
            where,
        )
        host = _text(s, "host", where)
        port = s.get("port", 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{where}.port: expected a port number; got {port!r}.")
        _allowed(host, port, allow, f"{where}.host")
        to = s.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(t, str) for t in to):
            raise ConfigError(f"{where}.to: expected one address or a list of addresses.")
        return Email(
            name,
            host,
            port,
            _text(s, "from", where),
            tuple(to),
            bool(s.get("starttls", False)),
            s.get("username"),
            s.get("password"),
            s.get("ca_file"),
            timeout,
        )
    if kind == "pagerduty":
        only(s, {"routing_key", "url", "timeout"}, where)
        url = allowed_url(s.get("url", PAGERDUTY_URL), allow, f"{where}.url")
        return PagerDuty(name, _text(s, "routing_key", where), url, timeout)
    only(
        s,
        {"url", "secret", "headers", "timeout"} if kind == "webhook" else {"url", "timeout"},
        where,
    )
    url = allowed_url(s.get("url"), allow, f"{where}.url")
    if kind == "slack":
        return Slack(name, url, timeout)
    if kind == "alertmanager":
        return Alertmanager(name, url, timeout)
    headers = s.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f"{where}.headers: expected a mapping of header names to text.")
    secret = s.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ConfigError(f"{where}.secret: expected text.")
    return Webhook(name, url, secret, dict(headers), timeout)


def allowed_url(value: Any, allow: Sequence[str], where: str) -> str:
    """`value` when it is an http(s) URL whose host is on the allow-list; else a ConfigError
    at `where` that does not repeat the URL (it may hold a secret)."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected an http(s) URL.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # the value may be a secret (a Slack webhook): say what is wrong without repeating it
        raise ConfigError(f"{where}: expected an http(s) URL with a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"{where}: the URL's port is not a number.") from None
    _allowed(parts.hostname, port, allow, where)
    return value


def _allowed(host: str, port: int, allow: Sequence[str], where: str) -> None:
    host = host.lower()
    if host in allow or f"{host}:{port}" in allow:
        return
    raise ConfigError(
        f"{where}: the host {host}:{port} is not on alerts.allow; add {host!r} (any port) or "
        f"'{host}:{port}' there to let vigil send to it."
    )


def _text(s: Mapping[str, Any], key: str, where: str) -> str:
    value = s.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: expected text.")
    return value
