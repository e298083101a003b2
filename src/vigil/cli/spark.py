"""`vigil report --engine spark` and `vigil check --engine spark` (`vigil.cli` parses).

The files are read by Spark (`vigil.spark.read_files`) on the master given (`local[*]` by
default) and summarised there; this module starts the session, calls `vigil.spark`, prints,
and stops the session it started.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from vigil.cli.batch import _has_roles, _write
from vigil.cli.progress import progress
from vigil.errors import VigilError

if TYPE_CHECKING:
    from vigil.report.model import Report
    from vigil.spark import WindowReport
    from vigil.spec import Spec


def spark_report(args: argparse.Namespace, console: Console, spec: Spec | None) -> Report:
    """One report of the whole current set, computed on Spark."""
    from vigil.spark import evaluate

    _refuse_roles(args)
    with _session(args, console) as session, progress(console, "summarising on Spark"):
        reference, current = _inputs(session, args)
        return evaluate(reference, current, spec, sources=(args.reference, args.current))


def spark_windows(args: argparse.Namespace, console: Console, spec: Spec | None) -> int:
    """`vigil report --engine spark --window D`: one line per window and segment; --json
    writes the list (docs/spark.md, "Windows")."""
    from vigil.spark import evaluate_windows

    _refuse_roles(args)
    if args.html:
        raise VigilError(
            "--html writes one report, and --window makes one per window; use --json for "
            "the list, or drop --window for one HTML report of the whole set."
        )
    with _session(args, console) as session, progress(console, "summarising on Spark"):
        reference, current = _inputs(session, args)
        found = evaluate_windows(
            reference,
            current,
            spec,
            every=args.window,
            sources=(args.reference, args.current),
        )
    _print_windows(found, console, quiet=args.quiet)
    if args.json:
        text = json.dumps([window_document(w) for w in found], indent=2, allow_nan=False)
        _write(args.json, partial(_save, args.json, text + "\n"))
        console.print(f"wrote [bold]{escape(args.json)}[/]", highlight=False)
    return 0


def window_document(window: WindowReport) -> dict[str, Any]:
    """One window's entry of the `--json` list: its span, segment, rows, status and report
    (the `vigil report --json` document, or null with the reason)."""
    from vigil.report.json import report_to_dict

    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "segment": window.segment or None,
        "rows": window.rows,
        "status": window.status,
        "reason": window.reason,
        "report": None if window.report is None else report_to_dict(window.report),
    }


def _print_windows(found: list[WindowReport], console: Console, *, quiet: bool) -> None:
    from vigil.report.terminal import summary_line

    colours = {"ok": "green", "warning": "yellow", "critical": "red", "pending": "dim"}
    for w in found:
        if quiet and w.segment:
            continue
        what = summary_line(w.report) if w.report is not None else (w.reason or "")
        console.print(
            f"{w.start:%Y-%m-%d %H:%M} – {w.end:%Y-%m-%d %H:%M}  "
            f"{escape(w.segment or 'all rows'):<24} {w.rows:>10,} rows  "
            f"[{colours.get(w.status, 'white')}]{w.status:<8}[/]  {escape(what)}",
            highlight=False,
            soft_wrap=True,
        )
    worst = sum(1 for w in found if w.status in ("warning", "critical"))
    console.print(f"{len(found)} window reports; {worst} at warning or critical", highlight=False)


def _refuse_roles(args: argparse.Namespace) -> None:
    if _has_roles(args):
        raise VigilError(
            "the Spark engine takes a spec, not role options: write one with `vigil init "
            "--reference SAMPLE --target ...` and pass it with --spec."
        )


def _inputs(session: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    from vigil.profile import is_profile_file
    from vigil.spark import read_files

    given = Path(args.reference)
    reference = (
        args.reference
        if given.is_file() and is_profile_file(given)
        else read_files(session, args.reference)
    )
    return reference, read_files(session, args.current)


@contextmanager
def _session(args: argparse.Namespace, console: Console) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    from vigil.spark import spark_session

    started = SparkSession.getActiveSession() is None
    with progress(console, "starting Spark"):
        session = spark_session(args.spark_master)
        if started:
            session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        if started:  # a session someone else started (a notebook, a test) stays theirs
            session.stop()


def _save(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
