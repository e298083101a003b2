"""The service commands of `vigil`: serve, run --once, backfill, token.

Kept apart from `vigil.cli` so that `vigil report` never imports the web stack.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.markup import escape

from vigil.config import SCOPES, Settings, hash_token, load_settings
from vigil.errors import ConfigError, VigilError
from vigil.ingest.validate import iso_time


def add_service_commands(sub: Any) -> None:
    """Add serve, run, backfill and token to the `vigil` parser."""
    p = sub.add_parser("serve", help="run the monitoring service (HTTP API, scheduler, /metrics)")
    _service_options(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.set_defaults(run=_serve)

    p = sub.add_parser("run", help="compute every window that is due, then exit (for cron)")
    _service_options(p)
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.set_defaults(run=_run_once)

    p = sub.add_parser("backfill", help="recompute a model's windows in a time range")
    _service_options(p)
    p.add_argument("--model", required=True)
    p.add_argument("--from", dest="since", required=True, metavar="T1", help="ISO-8601 time")
    p.add_argument("--to", dest="until", required=True, metavar="T2", help="ISO-8601 time")
    p.set_defaults(run=_backfill)

    p = sub.add_parser("token", help="make an API token and print the config entry for it")
    p.add_argument("--name", required=True)
    p.add_argument("--scopes", default="write", help=f"comma-separated: {', '.join(SCOPES)}")
    p.set_defaults(run=_token)


def _service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="vigil.yaml (docs/config.md)")
    p.add_argument("--db", help="DuckDB file or postgresql:// URL (default vigil.duckdb)")


def settings_from(args: argparse.Namespace) -> Settings:
    """Config file, then environment, then command-line options."""
    settings = load_settings(args.config, os.environ)
    if args.db:
        settings = replace(settings, db=args.db)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    if getattr(args, "port", None) is not None:
        settings = replace(settings, port=args.port)
    return settings


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from(args)
    if not settings.tokens and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to bind {settings.host} without tokens: anyone who can reach it could "
            f"write and read. Add tokens to the config (`vigil token` makes one) or bind "
            f"127.0.0.1."
        )
    import uvicorn

    from vigil.service.app import create_app
    from vigil.store import open_store

    store = open_store(settings.db)
    if not settings.tokens:
        console.print(
            "[yellow]no tokens configured:[/] serving on 127.0.0.1 only; anyone on this "
            "machine may read and write."
        )
    console.print(
        f"vigil serving on http://{settings.host}:{settings.port} "
        f"(store {escape(store.url_for_display)}, windows every {settings.interval} s)",
        highlight=False,
    )
    app = create_app(settings, store=store)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        store.close()
    return 0


def _monitor(settings: Settings) -> Any:
    from vigil.service.app import build_monitor, load_config_models
    from vigil.store import open_store

    monitor = build_monitor(settings, open_store(settings.db))
    load_config_models(settings, monitor.store, monitor)
    return monitor


def _print_summary(summary: Any, console: Console) -> int:
    for r in summary.computed:
        status = "-" if r.report is None else r.report.status
        console.print(
            f"{r.key.version} {r.key.kind} {r.key.start:%Y-%m-%d %H:%M} rows={r.rows} "
            f"labelled={r.labelled} status={status}",
            highlight=False,
        )
    for reason, n in sorted(summary.skipped.items()):
        console.print(f"skipped {n} window(s): {reason}", highlight=False)
    for line in summary.failed:
        console.print(f"[red]failed:[/] {escape(line)}", highlight=False)
    console.print(f"computed {len(summary.computed)} window(s)", highlight=False)
    return 0


def _run_once(args: argparse.Namespace, console: Console) -> int:
    monitor = _monitor(settings_from(args))
    try:
        return _print_summary(monitor.tick(models=args.model), console)
    finally:
        monitor.store.close()


def _time(value: str, option: str) -> datetime:
    try:
        parsed = iso_time(value)
    except ValueError:
        raise VigilError(
            f"{option} {value!r} is not an ISO-8601 time (2026-11-01T00:00)."
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _backfill(args: argparse.Namespace, console: Console) -> int:
    since, until = _time(args.since, "--from"), _time(args.until, "--to")
    if since >= until:
        raise VigilError(f"--from {args.since} must be before --to {args.until}.")
    monitor = _monitor(settings_from(args))
    try:
        model = monitor.store.get_model(args.model)
        if model is None:
            names = ", ".join(m.name for m in monitor.store.list_models()) or "none"
            raise VigilError(f"no model {args.model!r} in the store; models: {names}.")
        return _print_summary(monitor.backfill(model, since, until), console)
    finally:
        monitor.store.close()


def _token(args: argparse.Namespace, console: Console) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise VigilError(f"--scopes: use some of {', '.join(SCOPES)}; got {args.scopes!r}.")
    token = secrets.token_urlsafe(32)
    console.print("token (shown once; give it to the client):", highlight=False)
    console.print(token, highlight=False, soft_wrap=True)
    console.print("\nconfig entry (under `tokens:`):", highlight=False)
    console.print(
        f"  - name: {args.name}\n    sha256: {hash_token(token)}\n"
        f"    scopes: [{', '.join(scopes)}]",
        highlight=False,
    )
    return 0
