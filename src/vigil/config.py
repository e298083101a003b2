"""The service's settings: a YAML file (docs/config.md), environment variables over it.

Durations are written `30s`, `15m`, `1h`, `7d`; sizes `64MiB`. An environment variable
`VIGIL_<KEY>` overrides a top-level key and `VIGIL_<SECTION>_<KEY>` a key of `limits:` or
`windows:` (e.g. `VIGIL_DB`, `VIGIL_PORT`, `VIGIL_WINDOWS_SIZE=1d`). Tokens are kept as
SHA-256 hashes; `vigil token` makes a token and the line to paste.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import yaml

from vigil.alerts.settings import AlertSettings, parse_alert_settings
from vigil.detect import DETECTORS, STREAMS_EXTRA, check_params
from vigil.errors import ConfigError
from vigil.measure.streams import StreamConfig
from vigil.monitor.windows import WindowPlan
from vigil.sources.settings import SourceConfig, parse_sources
from vigil.spec.schema import name_problem
from vigil.units import parse_duration, parse_size

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


def hash_token(token: str) -> str:
    """The SHA-256 hex digest a config keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token's hash, its name (for logs) and what it may do."""

    name: str
    sha256: str
    scopes: frozenset[Scope]
    revoked: bool = False

    def matches(self, presented_hash: str) -> bool:
        """Compare hashes in constant time."""
        return hmac.compare_digest(self.sha256, presented_hash)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A model the service registers at start from files."""

    name: str
    version: str
    spec: Path | None
    reference: Path | None
    plan: WindowPlan
    streams: tuple[StreamConfig, ...] = ()  # change detectors on per-record streams


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what clients may send."""

    max_body: int = 64 * 2**20
    max_pending_records: int = 200_000  # records waiting for the writer; past it, 503
    lateness: int = 30 * 86400
    max_future: int = 3600
    retry_after: int = 1
    max_extra_columns: int = 50  # per model: features the spec does not name, kept as columns
    header_timeout: int = 10  # seconds from a request's first byte to the end of its headers
    body_timeout: int = 120  # seconds from the end of the headers to the end of the body
    max_connections: int = 1000  # open connections; past it, 503 at once
    max_inflight_bytes: int = 128 * 2**20  # request bodies being read or processed; past it, 503
    shutdown_timeout: int = 10  # seconds in-flight requests get to finish on SIGTERM/SIGINT
    max_reference_bytes: int = 2**30  # an uploaded reference's columns once decoded; past it, 422


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `vigil serve` needs."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # `vigil serve` processes on the port; more than 1 needs PostgreSQL
    db: str = "vigil.duckdb"
    interval: int = 60
    lease: int = 600
    retention: int | None = None
    limits: Limits = field(default_factory=Limits)
    windows: WindowPlan = field(default_factory=WindowPlan)
    tokens: tuple[Token, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sources: tuple[SourceConfig, ...] = ()  # brokers consumed beside HTTP (docs/sources.md)
    source: str = "defaults"

    @property
    def plans(self) -> dict[str, WindowPlan]:
        """Per-model window plans."""
        return {m.name: m.plan for m in self.models}


def _plan(data: Mapping[str, Any], base: WindowPlan, where: str) -> WindowPlan:
    known = {"size", "rolling", "min_rows", "segments", "top_segments", "history"}
    _only(data, known, where)
    plan = base
    if "size" in data:
        plan = replace(plan, size_seconds=parse_duration(data["size"], f"{where}.size"))
    if "rolling" in data:
        rolling = data["rolling"]
        seconds = None if rolling in (None, False, "off") else parse_duration(rolling, where)
        plan = replace(plan, rolling_seconds=seconds)
    if "min_rows" in data:
        plan = replace(plan, min_rows=_positive_int(data["min_rows"], f"{where}.min_rows"))
    if "top_segments" in data:
        top = _positive_int(data["top_segments"], f"{where}.top_segments")
        plan = replace(plan, top_segments=top)
    if "history" in data:
        plan = replace(plan, history=_positive_int(data["history"], f"{where}.history", zero=True))
    if "segments" in data:
        segs = data["segments"]
        if not isinstance(segs, list) or not all(isinstance(s, str) for s in segs):
            raise ConfigError(f"{where}.segments: expected a list of column names.")
        plan = replace(plan, segments=tuple(segs))
    return plan


def _positive_int(value: Any, where: str, *, zero: bool = False) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or (number == 0 and not zero) or isinstance(value, bool):
        raise ConfigError(
            f"{where}: {value!r} is not a {'non-negative' if zero else 'positive'} whole number."
        )
    return number


def _only(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
            f"known: {', '.join(sorted(known))}."
        )


LIMIT_KEYS = {
    "max_body",
    "max_extra_columns",
    "max_pending_records",
    "lateness",
    "max_future",
    "retry_after",
    "header_timeout",
    "body_timeout",
    "max_connections",
    "max_inflight_bytes",
    "shutdown_timeout",
    "max_reference_bytes",
}
TOP_KEYS = {
    "host",
    "port",
    "workers",
    "db",
    "interval",
    "lease",
    "retention",
    "limits",
    "windows",
    "tokens",
    "models",
    "alerts",
    "sources",
}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true and false. YAML 1.1 also
    reads on, off, yes and no as booleans, so `on:` (an action's triggers) became the key
    True and `retention: off` the value False."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file's data; a ConfigError naming `what` and the file when it cannot be read."""
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from a YAML file (optional) with `VIGIL_*` environment variables over it."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        loaded = read_yaml(path, "the config")
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping of keys to values.")
        data = loaded or {}
        source = str(path)
        _only(data, TOP_KEYS, str(path))
    base = Path(path).parent if path is not None else Path()
    for name, value in (env or {}).items():
        if not name.startswith("VIGIL_"):
            continue
        parts = name[len("VIGIL_") :].lower().split("_", 1)
        if parts[0] in ("limits", "windows") and len(parts) == 2:
            data.setdefault(parts[0], {})[parts[1]] = value
        elif name[len("VIGIL_") :].lower() in TOP_KEYS - {
            "tokens",
            "models",
            "limits",
            "windows",
            "alerts",
            "sources",
        }:
            data[name[len("VIGIL_") :].lower()] = value
    return _settings(data, base, source)


def _settings(data: dict[str, Any], base: Path, source: str) -> Settings:
    limits_data = data.get("limits") or {}
    _only(limits_data, LIMIT_KEYS, "limits")
    limits = Limits()
    for key in ("max_body", "max_inflight_bytes", "max_reference_bytes"):
        if key in limits_data:
            limits = replace(limits, **{key: parse_size(limits_data[key], f"limits.{key}")})
    for key in ("max_pending_records", "max_connections"):
        if key in limits_data:
            limits = replace(limits, **{key: _positive_int(limits_data[key], f"limits.{key}")})
    if "max_extra_columns" in limits_data:
        limits = replace(
            limits,
            max_extra_columns=_positive_int(
                limits_data["max_extra_columns"], "limits.max_extra_columns", zero=True
            ),
        )
    durations = ("lateness", "max_future", "retry_after", "header_timeout", "body_timeout")
    for key in (*durations, "shutdown_timeout"):
        if key in limits_data:
            limits = replace(limits, **{key: parse_duration(limits_data[key], f"limits.{key}")})
    if limits.max_inflight_bytes < limits.max_body:
        raise ConfigError(
            f"limits.max_inflight_bytes ({limits.max_inflight_bytes} bytes) is below "
            f"limits.max_body ({limits.max_body} bytes): a body of the largest allowed size "
            f"could never be admitted. Raise max_inflight_bytes or lower max_body."
        )
    plan = _plan(data.get("windows") or {}, WindowPlan(), "windows")
    try:
        port = int(data.get("port", 8000))
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {data.get('port')!r} is not a port number (0-65535).")
    retention = data.get("retention")
    return Settings(
        host=str(data.get("host", "127.0.0.1")),
        port=port,
        workers=check_workers(data.get("workers", 1), "workers"),
        db=str(data.get("db", "vigil.duckdb")),
        interval=parse_duration(data.get("interval", 60), "interval"),
        lease=parse_duration(data.get("lease", 600), "lease"),
        retention=None if retention in (None, "off") else parse_duration(retention, "retention"),
        limits=limits,
        windows=plan,
        tokens=tuple(_tokens(data.get("tokens") or [])),
        models=tuple(_models(data.get("models") or {}, plan, base)),
        alerts=parse_alert_settings(data.get("alerts")),
        sources=parse_sources(data.get("sources")),
        source=source,
    )


MAX_WORKERS = 64  # processes of one `vigil serve`; beyond it, run more instances


def check_workers(value: Any, where: str) -> int:
    """A number of `vigil serve` processes, 1 to MAX_WORKERS, or a ConfigError naming `where`."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    fraction = isinstance(value, float) and not value.is_integer()
    if isinstance(value, bool) or fraction or not 1 <= number <= MAX_WORKERS:
        raise ConfigError(
            f"{where}: {value!r} is not a number of processes from 1 to {MAX_WORKERS}; use "
            f"about one per core (docs/scaling.md), and more instances beyond {MAX_WORKERS}."
        )
    return number


def _tokens(items: Any) -> list[Token]:
    if not isinstance(items, list):
        raise ConfigError("tokens: expected a list of {name, sha256, scopes}.")
    out = []
    for i, item in enumerate(items):
        where = f"tokens[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping with name, sha256 and scopes.")
        _only(item, {"name", "sha256", "scopes", "revoked"}, where)
        digest = str(item.get("sha256", "")).lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(
                f"{where}: sha256 must be the 64-hex-digit SHA-256 of the token; "
                f"`vigil token` prints one. Never put the token itself in the config."
            )
        scopes = item.get("scopes") or []
        bad = [s for s in scopes if s not in SCOPES]
        if not isinstance(scopes, list) or bad or not scopes:
            raise ConfigError(f"{where}: scopes must be a non-empty list of {', '.join(SCOPES)}.")
        out.append(
            Token(
                str(item.get("name", where)),
                digest,
                frozenset(scopes),
                bool(item.get("revoked", False)),
            )
        )
    return out


def _models(items: Any, plan: WindowPlan, base: Path) -> list[ModelConfig]:
    if not isinstance(items, dict):
        raise ConfigError("models: expected a mapping of model name to {version, spec, reference}.")
    out = []
    for name, item in items.items():
        where = f"models.{name}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping with version, spec and reference.")
        _only(item, {"version", "spec", "reference", "windows", "streams"}, where)
        if "version" not in item:
            raise ConfigError(f"{where}: needs a version.")
        for value, what in ((name, "model name"), (str(item["version"]), "version")):
            problem = name_problem(value, what)
            if problem is not None:
                raise ConfigError(f"{where}: {problem}")
        out.append(
            ModelConfig(
                name=str(name),
                version=str(item["version"]),
                spec=base / item["spec"] if item.get("spec") else None,
                reference=base / item["reference"] if item.get("reference") else None,
                plan=_plan(item.get("windows") or {}, plan, f"{where}.windows"),
                streams=_streams(item.get("streams") or [], f"{where}.streams"),
            )
        )
    return out


def _streams(items: Any, where: str) -> tuple[StreamConfig, ...]:
    """`streams:` of a model: [{stream: error|score|<column>, detector: ..., params: {...}}]."""
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of {{stream, detector, params}}.")
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping with stream, detector and params.")
        _only(item, {"stream", "detector", "params"}, at)
        stream = item.get("stream")
        if not isinstance(stream, str) or not stream:
            raise ConfigError(f"{at}.stream: expected error, score or a numeric column's name.")
        detector = item.get("detector")
        if detector is not None and not isinstance(detector, str):
            raise ConfigError(f"{at}.detector: expected one of {', '.join(sorted(DETECTORS))}.")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{at}.params: expected a mapping of parameter to value.")
        if detector is not None:
            try:
                check_params(detector, params, where=at)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if DETECTORS[detector].river_class is not None and find_spec("river") is None:
                raise ConfigError(
                    f"{at}: detector {detector} is River's and River is not installed: "
                    f"{STREAMS_EXTRA} (cusum runs without it)."
                )
        out.append(StreamConfig(stream, detector, dict(params)))
    return tuple(out)
