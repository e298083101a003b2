"""The `vigil` command: parse, call the library, print. Nothing else lives here.

This module holds the parser and imports nothing heavy, so `vigil --help` answers at once;
each command's module (`batch` for init, report, check and profile; `demo` for demo; `service`
for serve, run, backfill and token; `actions` for retrain) is imported when the command runs.

Exit codes:

- 0: done (a report is written whether or not drift was found);
- 1: `vigil check` found a check at or above --fail-on;
- 2: a usage error: a bad file, spec, config or option (one line says what to do);
- 3: an internal error: vigil itself failed (one line; --debug shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from vigil.errors import VigilError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
SCOPES = ("read", "write", "admin")  # token scopes; vigil.config.SCOPES is the same tuple
ENGINES = ("memory", "stream", "spark")  # how `vigil report` and `vigil check` read the sets


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vigil` command; returns the exit code."""
    args = parser().parse_args(argv)
    console, errors = consoles()
    module, name = args.run.split(":")
    try:
        command = getattr(import_module(f"vigil.cli.{module}"), name)
        code: int = command(args, console)
        return code
    except VigilError as err:
        if args.debug:
            raise
        errors.print(f"[bold red]error:[/] {_escape(str(err))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    except Exception as err:  # the last line of defence: one line and a code of its own
        if args.debug:
            raise
        errors.print(
            f"[bold red]internal error:[/] {_escape(type(err).__name__)}: "
            f"{_escape(str(err).splitlines()[0] if str(err) else '')} — vigil failed, not your "
            "input. Run again with --debug for the traceback, and report it.",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INTERNAL


def consoles() -> tuple[Any, Any]:
    """Standard output and error as rich consoles; wide and plain when not a terminal.

    Rich cuts lines at 80 columns when it cannot ask a terminal for its width (CI logs,
    pipes); there a width of $COLUMNS, else 200, keeps table cells whole.
    """
    from rich.console import Console

    width = None if sys.stdout.isatty() else _columns(os.environ.get("COLUMNS"))
    return Console(width=width), Console(stderr=True, width=width)


def _columns(value: str | None) -> int:
    """$COLUMNS when it is a positive whole number, else 200."""
    try:
        width = int(value or "")
    except ValueError:
        return 200
    return width if width > 0 else 200


def _positive(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def parser() -> argparse.ArgumentParser:
    """The whole command line, every command and option."""
    top = argparse.ArgumentParser(
        prog="vigil",
        description="Watch machine-learning models: drift, data quality, performance.",
        epilog="Exit codes: 0 done, 1 `vigil check` failed, 2 usage error, 3 internal error.",
    )
    top.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    top.set_defaults(debug=False)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="infer a spec from a reference set and write it as YAML")
    p.add_argument("--reference", required=True, metavar="DATA")
    _role_options(p)
    p.add_argument(
        "-o",
        "--output",
        default="spec.yaml",
        metavar="FILE",
        help="where to write the spec ('-' for the terminal; default spec.yaml)",
    )
    p.set_defaults(run="batch:init")

    for name, helptext in (
        ("report", "compare a current set with a reference and report"),
        ("check", "like report, and exit 1 when a check fails (a CI gate)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "--reference",
            required=True,
            metavar="DATA",
            help="reference data (Parquet, CSV, JSON Lines, Arrow; glob or folder) "
            "or a profile saved by `vigil profile`",
        )
        p.add_argument("--current", required=True, metavar="DATA")
        p.add_argument("--spec", metavar="FILE", help="YAML spec (default: inferred)")
        _role_options(p)
        p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
        p.add_argument("--json", metavar="FILE", help="write the JSON report")
        p.add_argument("--quiet", action="store_true", help="print only the summary line")
        p.add_argument(
            "--engine",
            choices=ENGINES,
            default="memory",
            help="memory: read both sets as tables (default; every measure exact); stream: "
            "read them as record batches into mergeable summaries, for sets larger than "
            "memory (docs/profile-format.md says what is exact and what approximate); spark: "
            "summarise them on Spark, partition by partition (the `spark` extra; --spec or a "
            "profile as --reference; docs/spark.md)",
        )
        p.add_argument(
            "--batch-rows",
            type=_positive,
            default=65_536,
            metavar="N",
            help="--engine stream: rows per batch (default 65536); peak memory is about a "
            "few batches plus the summaries",
        )
        p.add_argument(
            "--spark-master",
            metavar="URL",
            help="with --engine spark: the Spark master (default local[*], every core here)",
        )
        if name == "report":
            p.add_argument(
                "--window",
                metavar="DURATION",
                help="with --engine spark: one report per window of this length (1h, 1d, "
                "7d) on the spec's timestamp, and per segment; --json writes them as a list",
            )
        if name == "check":
            p.add_argument(
                "--fail-on",
                choices=("warning", "critical"),
                default="critical",
                help="exit 1 when a check reaches this status (default critical; "
                "`pending` never fails)",
            )
            p.add_argument(
                "--rules",
                metavar="FILE",
                help="YAML alert rules (docs/alerts.md) judged on the report too: a rule "
                "reaching --fail-on fails the check",
            )
        p.set_defaults(run=f"batch:{name}")

    p = sub.add_parser("profile", help="summarise a reference set into a reusable profile file")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--spec", metavar="FILE")
    _role_options(p)
    p.set_defaults(run="batch:profile")

    p = sub.add_parser(
        "demo",
        help="replay a month of a credit-scoring model's traffic into a real service and watch "
        "vigil notice the change",
    )
    p.add_argument(
        "--data",
        default="vigil-demo",
        metavar="DIR",
        help="the demo's folder: its service's store, config and log, the generated data "
        "(reference.parquet, current.parquet, labels.parquet, spec.yaml) and the report "
        "(default ./vigil-demo)",
    )
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="exit once the replay is done and the report written, instead of serving the "
        "dashboard until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=8000, help="the service's port (default 8000)")
    p.add_argument("--days", type=int, default=30, help="days of traffic (default 30)")
    p.add_argument(
        "--change-day", type=int, default=7, help="the day behaviour changes (default 7)"
    )
    p.add_argument(
        "--rows-per-hour", type=int, default=400, help="predictions per hour, about (default 400)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(run="demo:demo")

    p = sub.add_parser("serve", help="run the monitoring service (HTTP API, scheduler, /metrics)")
    _service_options(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="serve the port from N processes (default 1; N > 1 needs a PostgreSQL store; "
        "docs/scaling.md)",
    )
    p.set_defaults(run="service:serve")

    p = sub.add_parser("run", help="compute every window that is due, then exit (for cron)")
    _service_options(p)
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.set_defaults(run="service:run_once")

    p = sub.add_parser(
        "backfill",
        help="recompute a model's stored windows in a time range (it takes no records: send "
        "old records to the API, after raising limits.lateness if they are older than it)",
    )
    _service_options(p)
    p.add_argument("--model", required=True)
    p.add_argument("--from", dest="since", required=True, metavar="T1", help="ISO-8601 time")
    p.add_argument(
        "--to", dest="until", required=True, metavar="T2", help="ISO-8601 time (excluded)"
    )
    p.set_defaults(run="service:backfill")

    p = sub.add_parser(
        "retrain",
        help="ask the running service for a retrain of a model now (exit 1 when it is skipped "
        "or its call fails)",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--reason", required=True, help="why; recorded with the decision")
    p.add_argument("--config", metavar="FILE", help="the service's config, for its host and port")
    p.add_argument(
        "--url", help="the service's address (default: from --config, else http://127.0.0.1:8000)"
    )
    p.add_argument("--token", help="a token with the write scope (default: $VIGIL_TOKEN)")
    p.set_defaults(run="actions:retrain")

    p = sub.add_parser("token", help="make an API token and print the config entry for it")
    p.add_argument("--name", required=True)
    p.add_argument("--scopes", default="write", help=f"comma-separated: {', '.join(SCOPES)}")
    p.set_defaults(run="service:token")
    return top


def _role_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("column roles (used when no --spec is given)")
    g.add_argument("--target", metavar="COLUMN", help="the ground-truth label column")
    g.add_argument("--prediction", metavar="COLUMN", help="the predicted label (or value)")
    g.add_argument(
        "--score",
        metavar="COLUMN",
        action="append",
        default=[],
        help="a predicted probability column; repeat (or comma-separate) for one column per class",
    )
    g.add_argument("--id", dest="id_column", metavar="COLUMN", help="the row id column")
    g.add_argument("--timestamp", metavar="COLUMN")
    g.add_argument("--segment", metavar="COLUMN", action="append", default=[])


def _service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", metavar="FILE", help="service config, e.g. vigil.yaml (docs/config.md)"
    )
    p.add_argument("--db", help="DuckDB file or postgresql:// URL (default vigil.duckdb)")
