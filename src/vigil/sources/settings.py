"""The `sources:` section of the service's config: brokers `vigil serve` consumes records from.

Every mistake is a ConfigError naming the source and the key (docs/sources.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from vigil.errors import ConfigError
from vigil.spec.schema import name_problem
from vigil.units import parse_duration

BrokerName = Literal["nats", "redis", "rabbitmq"]
SourceKind = Literal["predictions", "labels"]
SourceFormat = Literal["json", "columns", "arrow"]

# the keys each broker reads besides the common ones, and the URL schemes it takes
BROKER_KEYS: dict[str, frozenset[str]] = {
    "nats": frozenset({"stream", "subject", "consumer", "redeliver_after"}),
    "redis": frozenset({"stream", "consumer", "redeliver_after"}),
    "rabbitmq": frozenset({"consumer"}),
}
SCHEMES: dict[str, tuple[str, ...]] = {
    "nats": ("nats", "tls"),
    "redis": ("redis", "rediss"),
    "rabbitmq": ("amqp", "amqps"),
}
COMMON_KEYS = frozenset(
    {"name", "broker", "url", "model", "kind", "format", "batch", "max_inflight"}
)
KINDS: tuple[SourceKind, ...] = ("predictions", "labels")
FORMATS: tuple[SourceFormat, ...] = ("json", "columns", "arrow")
MAX_BATCH = 100_000


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One broker source: where to read, what the messages hold, and the bounds."""

    name: str
    broker: BrokerName
    url: str
    model: str
    consumer: str  # NATS durable consumer, Redis consumer group, RabbitMQ queue
    kind: SourceKind = "predictions"
    format: SourceFormat = "json"
    stream: str | None = None  # NATS stream, Redis stream key
    subject: str | None = None  # NATS subject the consumer filters on
    batch: int = 1000  # messages pulled per fetch at most
    max_inflight: int = 100_000  # records decoded and not yet stored, at most
    redeliver_after: int = 30  # seconds before an unacknowledged message goes to another reader

    @property
    def display_url(self) -> str:
        """The URL with any password or token replaced by `***`, for logs."""
        return masked_url(self.url)


def masked_url(url: str) -> str:
    """A broker URL fit for a log: `user:***@host`, or `***@host` for a bare token."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:  # a URL without a scheme has no netloc: hide all before @
        return f"***@{url.rpartition('@')[2]}" if "@" in url else url
    user, _, host = parts.netloc.rpartition("@")
    shown = f"{user.split(':', 1)[0]}:***" if ":" in user else "***"
    return urlunsplit((parts.scheme, f"{shown}@{host}", parts.path, parts.query, parts.fragment))


def parse_sources(items: Any) -> tuple[SourceConfig, ...]:
    """The `sources:` list; [] or a missing section is no source."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError(
            "sources: expected a list of sources, each {name, broker, url, model, ...}; "
            "see docs/sources.md."
        )
    out: list[SourceConfig] = []
    for i, item in enumerate(items):
        source = _source(item, f"sources[{i}]")
        if any(s.name == source.name for s in out):
            raise ConfigError(
                f"sources[{i}]: the name {source.name!r} is used by an earlier source; "
                f"give each source its own name."
            )
        out.append(source)
    return tuple(out)


def _source(item: Any, where: str) -> SourceConfig:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, broker, url, model, ...")
    name = item.get("name")
    if not isinstance(name, str) or name_problem(name, "source name") is not None:
        problem = name_problem(name, "source name") if isinstance(name, str) else None
        raise ConfigError(f"{where}.name: {problem or 'missing; give the source a name.'}")
    where = f"sources.{name}"
    broker = item.get("broker")
    if broker == "kafka":
        raise ConfigError(
            f"{where}.broker: Kafka is not supported yet (no Kafka broker to test against); "
            f"use nats, redis or rabbitmq, or post to the HTTP API."
        )
    if broker not in BROKER_KEYS:
        raise ConfigError(
            f"{where}.broker: {broker!r} is not a broker vigil reads; "
            f"use one of {', '.join(sorted(BROKER_KEYS))}."
        )
    known = COMMON_KEYS | BROKER_KEYS[broker]
    unknown = sorted(set(map(str, item)) - known)
    if unknown:
        others = [b for b, keys in BROKER_KEYS.items() if set(unknown) & keys]
        hint = f" ({', '.join(unknown)} is read by {', '.join(others)} only)" if others else ""
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for broker {broker}{hint}; "
            f"known: {', '.join(sorted(known))}."
        )
    url = _text(item, "url", where)
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES[broker] or not urlsplit(url).hostname:
        example = {
            "nats": "nats://127.0.0.1:4222",
            "redis": "redis://127.0.0.1:6379/0",
            "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
        }[broker]
        raise ConfigError(
            f"{where}.url: {masked_url(url)!r} is not a {broker} URL; write e.g. {example}."
        )
    model = _text(item, "model", where)
    problem = name_problem(model, "model name")
    if problem is not None:
        raise ConfigError(f"{where}.model: {problem}")
    kind = item.get("kind", "predictions")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {kind!r}; use one of {', '.join(KINDS)}.")
    fmt = item.get("format", "json")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r}; use one of {', '.join(FORMATS)}.")
    stream = subject = None
    if broker in ("nats", "redis"):
        stream = _text(item, "stream", where)
    if broker == "nats":
        subject = _text(item, "subject", where)
    batch = _count(item, "batch", where, 1000, MAX_BATCH)
    inflight = _count(item, "max_inflight", where, 100_000, 10**9)
    return SourceConfig(
        name=name,
        broker=broker,
        url=url,
        model=model,
        consumer=_text(item, "consumer", where),
        kind=kind,
        format=fmt,
        stream=stream,
        subject=subject,
        batch=batch,
        max_inflight=inflight,
        redeliver_after=parse_duration(item.get("redeliver_after", 30), f"{where}.redeliver_after"),
    )


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(
            f"{where}.{key}: {'missing' if value is None else repr(value)}; expected text "
            f"(see docs/sources.md for what {key} means for each broker)."
        )
    return value


def _count(item: Mapping[str, Any], key: str, where: str, default: int, most: int) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ConfigError(f"{where}.{key}: {value!r} is not a whole number from 1 to {most:,}.")
    return value
