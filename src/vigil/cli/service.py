"""The service commands: serve, run --once, backfill, token (`vigil.cli` parses).

Kept apart from the batch commands so that `vigil report` never imports the web stack, and
`vigil run --once` never imports FastAPI.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import textwrap
from dataclasses import replace
from datetime import datetime
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from vigil.config import SCOPES, Settings, check_workers, hash_token, load_settings
from vigil.errors import ConfigError, VigilError
from vigil.ingest.validate import iso_time


def settings_from(args: argparse.Namespace) -> Settings:
    """Config file, then environment, then command-line options."""
    settings = load_settings(args.config, os.environ)
    if args.db:
        settings = replace(settings, db=args.db)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    if getattr(args, "port", None) is not None:
        settings = replace(settings, port=args.port)
    if getattr(args, "workers", None) is not None:
        settings = replace(settings, workers=check_workers(args.workers, "--workers"))
    return settings


def is_postgres(url: str) -> bool:
    """True for the URLs `vigil.store.open_store` opens on PostgreSQL."""
    return url.startswith(("postgresql://", "postgres://"))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace, console: Console) -> int:
    """`vigil serve`: the HTTP API, the scheduler and /metrics, until stopped."""
    settings = settings_from(args)
    if not settings.tokens and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to bind {settings.host} without tokens: anyone who can reach it could "
            f"write and read. Add tokens to the config (`vigil token` makes one) or bind "
            f"127.0.0.1."
        )
    if settings.workers > 1 and not is_postgres(settings.db):
        raise ConfigError(
            f"{settings.workers} workers need a PostgreSQL store: {settings.db} is DuckDB, "
            f"which one process opens at a time. Serve it with one worker, or point db at "
            f"postgresql://... (docs/scaling.md)."
        )
    from vigil.deployment import build_monitor, load_config_models
    from vigil.store import open_store

    store = open_store(settings.db)
    try:
        load_config_models(settings, store, build_monitor(settings, store))
        where = f"store {escape(store.url_for_display)}, windows every {settings.interval} s"
        if not settings.tokens:
            console.print(
                "[yellow]no tokens configured:[/] serving on 127.0.0.1 only; anyone on this "
                "machine may read and write."
            )
        if settings.workers == 1:
            from vigil.service.app import create_app, run

            console.print(
                f"vigil serving on http://{settings.host}:{settings.port} ({where})",
                highlight=False,
            )
            run(
                create_app(settings, store=store, load_models=False),
                host=settings.host,
                port=settings.port,
            )
            return 0
    finally:
        store.close()  # the workers open stores of their own
    return _serve_workers(settings, where, console)


def _serve_workers(settings: Settings, where: str, console: Console) -> int:
    """`vigil serve --workers N` (N > 1): the parent binds the port and supervises."""
    from vigil.service.workers import Supervisor, bind

    sock = bind(settings.host, settings.port)
    try:
        settings = replace(settings, port=sock.getsockname()[1])  # --port 0: the one given
        console.print(
            f"vigil serving on http://{settings.host}:{settings.port} with {settings.workers} "
            f"worker processes ({where})",
            highlight=False,
        )

        def note(line: str) -> None:
            console.print(escape(line), highlight=False)

        return Supervisor(settings, sock, note=note).run()
    finally:
        sock.close()


def _monitor(settings: Settings) -> tuple[Any, Any]:
    """The monitor, and the alerting hooked into it, over the settings' store."""
    from vigil.deployment import build_alerting, build_monitor, load_config_models
    from vigil.store import open_store

    store = open_store(settings.db)
    monitor = build_monitor(settings, store)
    alerting = build_alerting(settings, store, monitor)
    load_config_models(settings, monitor.store, monitor)
    return monitor, alerting


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


def run_once(args: argparse.Namespace, console: Console) -> int:
    """`vigil run --once`: compute every due window, then exit."""
    monitor, alerting = _monitor(settings_from(args))
    try:
        code = _print_summary(monitor.tick(models=args.model), console)
        _print_sent(alerting.send_due(), alerting.outbox, console)
        return code
    finally:
        monitor.store.close()


def _time(value: str, option: str) -> datetime:
    """An ISO-8601 option as naive UTC, read as records' times are."""
    try:
        return iso_time(value)
    except ValueError as err:
        raise VigilError(
            f"{option} {err}; write e.g. 2026-11-01T00:00 (UTC) or 2026-11-01T01:00+01:00."
        ) from None


def backfill(args: argparse.Namespace, console: Console) -> int:
    """`vigil backfill`: recompute a model's stored windows in a time range."""
    since, until = _time(args.since, "--from"), _time(args.until, "--to")
    if since >= until:
        raise VigilError(f"--from {args.since} must be before --to {args.until}.")
    monitor, alerting = _monitor(settings_from(args))
    try:
        model = monitor.store.get_model(args.model)
        if model is None:
            names = ", ".join(m.name for m in monitor.store.list_models()) or "none"
            raise VigilError(f"no model {args.model!r} in the store; models: {names}.")
        code = _print_summary(monitor.backfill(model, since, until), console)
        _print_sent(alerting.send_due(), alerting.outbox, console)
        return code
    finally:
        monitor.store.close()


def _print_sent(tried: int, outbox: Any, console: Console) -> None:
    if tried:
        console.print(
            f"notices: {outbox.sent} sent, {outbox.failed} failed (kept for retry)",
            highlight=False,
        )


def token(args: argparse.Namespace, console: Console) -> int:
    """`vigil token`: a new token, and the config entry that holds its hash."""
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise VigilError(f"--scopes: use some of {', '.join(SCOPES)}; got {args.scopes!r}.")
    token = secrets.token_urlsafe(32)
    console.print("token (shown once; give it to the client):", highlight=False)
    console.print(token, highlight=False, soft_wrap=True)
    console.print("\nconfig entry (under `tokens:`):", highlight=False)
    entry = yaml.safe_dump(
        [{"name": args.name, "sha256": hash_token(token), "scopes": scopes}],
        default_flow_style=None,
        sort_keys=False,
        allow_unicode=True,
    )
    # plain text: rich would read `[write]` as markup and print nothing
    console.print(textwrap.indent(entry, "  "), markup=False, highlight=False, end="")
    return 0
