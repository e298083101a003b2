"""The batch commands: init, report, check and profile (`vigil.cli` parses).

`vigil report` and `vigil check` start reading both sets on threads before they import the
measuring stack, so the files load (pyarrow works outside the GIL) while Python imports.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from vigil.cli import EXIT_CHECK_FAILED
from vigil.cli.progress import progress
from vigil.errors import ConfigError, VigilError

if TYPE_CHECKING:
    from vigil.alerts import Finding, Rule
    from vigil.report.model import Report
    from vigil.spec import Spec


def _scores(args: argparse.Namespace) -> list[str]:
    return [s.strip() for item in args.score for s in item.split(",") if s.strip()]


def _has_roles(args: argparse.Namespace) -> bool:
    return any(
        (args.target, args.prediction, args.score, args.id_column, args.timestamp, args.segment)
    )


def _roles(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "target": args.target,
        "prediction": args.prediction,
        "scores": _scores(args),
        "id_column": args.id_column,
        "timestamp": args.timestamp,
        "segments": args.segment,
    }


def _given_spec(args: argparse.Namespace) -> Spec | None:
    """The --spec file, refused together with role options."""
    if not args.spec:
        return None
    if _has_roles(args):
        raise VigilError(
            "give either --spec or the role options (--target, --score, ...), "
            "not both: the spec already says which column is which."
        )
    from vigil.spec import load_spec

    return load_spec(args.spec)


def _start_reading(*paths: str) -> list[Future[Any]]:
    """Each path read on its own thread: a data set, or the path itself when it is a profile
    (`evaluate` reads a profile, and refuses one as the current set)."""

    def read(path: str) -> Any:
        if Path(path).suffix.lower() in (".parquet", ".pq", ".parq") and Path(path).is_file():
            # pyarrow alone, so the file loads while the main thread imports the rest
            import pyarrow.parquet as pq

            try:
                return pq.read_table(path), path
            except (OSError, ValueError):
                pass  # read_dataset below says what is wrong, in the user's words
        from vigil.measure.reading import read_dataset
        from vigil.profile import is_profile_file

        if Path(path).is_file() and is_profile_file(path):
            return path
        return read_dataset(path)

    pool = ThreadPoolExecutor(max_workers=len(paths), thread_name_prefix="vigil-read")
    futures = [pool.submit(read, path) for path in paths]
    pool.shutdown(wait=False)
    return futures


def init(args: argparse.Namespace, console: Console) -> int:
    """`vigil init`: infer a spec from the reference and write it as YAML."""
    from vigil.evaluation import infer_spec
    from vigil.measure.reading import read_dataset
    from vigil.spec import dump_spec

    with progress(console, "reading the reference"):
        data = read_dataset(args.reference)
    spec = infer_spec(data, **_roles(args))
    text = dump_spec(spec)
    if args.output == "-":
        console.print(text, markup=False, highlight=False, end="")
        return 0
    _write(args.output, lambda: _save_text(args.output, text))
    console.print(
        f"wrote the spec of {len(spec.columns)} columns to "
        f"[bold]{escape(args.output)}[/]; review the roles and kinds, then pass it "
        f"with --spec.",
        highlight=False,
    )
    return 0


def _evaluate_in_memory(args: argparse.Namespace, console: Console) -> Report:
    reading = _start_reading(args.reference, args.current)
    spec = _given_spec(args)
    from vigil.evaluation import evaluate  # imported while the files load
    from vigil.measure.reading import Dataset

    roles = {} if spec is not None else _roles(args)
    with progress(console, "evaluating columns") as update:
        reference, current = (
            Dataset(*read) if isinstance(read, tuple) else read
            for read in (future.result() for future in reading)
        )
        return evaluate(reference, current, spec, on_progress=update, **roles)


def _evaluate_stream(args: argparse.Namespace, console: Console) -> Report:
    """--engine stream: both sets read as record batches into summaries (vigil.summaries)."""
    spec = _given_spec(args)
    from vigil.summaries import evaluate_stream

    roles = {} if spec is not None else _roles(args)
    with progress(console, "reading rows") as update:
        return evaluate_stream(
            args.reference,
            args.current,
            spec,
            batch_rows=args.batch_rows,
            on_progress=update,
            **roles,
        )


def _run_report(args: argparse.Namespace, console: Console) -> Report:
    if args.engine != "spark" and (args.spark_master or getattr(args, "window", None)):
        raise VigilError(
            "--spark-master and --window go with --engine spark; add it, or drop them for "
            f"the {args.engine} engine's one report."
        )
    if args.engine == "spark":
        from vigil.cli.spark import spark_report

        report = spark_report(args, console, _given_spec(args))
    elif args.engine == "stream":
        report = _evaluate_stream(args, console)
    else:
        report = _evaluate_in_memory(args, console)
    from vigil.report import render_terminal, write_html, write_json
    from vigil.report.terminal import summary_line

    if args.quiet:
        console.print(f"status: {report.status}; {summary_line(report)}", highlight=False)
    else:
        render_terminal(report, console)
    writers: tuple[tuple[str | None, Callable[[Report, str], None]], ...] = (
        (args.json, write_json),
        (args.html, write_html),
    )
    for path, write in writers:
        if path:
            _write(path, partial(write, report, path))
            console.print(f"wrote [bold]{escape(path)}[/]", highlight=False)
    return report


def _write(path: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as err:
        raise VigilError(
            f"cannot write {path!r}: {err.strerror or err}; check the folder "
            f"exists and is writable."
        ) from None


def report(args: argparse.Namespace, console: Console) -> int:
    """`vigil report`: evaluate, print, write the files asked for."""
    if args.engine == "spark" and args.window:
        from vigil.cli.spark import spark_windows

        return spark_windows(args, console, _given_spec(args))
    _run_report(args, console)
    return 0


def check(args: argparse.Namespace, console: Console) -> int:
    """`vigil check`: as report, and exit 1 when a check (or a rule) reaches --fail-on."""
    from vigil.report.model import STATUS_ORDER

    rules = _load_rules(args.rules) if args.rules else ()
    found = _run_report(args, console)
    limit = STATUS_ORDER[args.fail_on]
    failed = [c for c in found.checks if STATUS_ORDER[c.status] >= limit]
    broken = _judge_rules(rules, found, console) if rules else []
    failed_rules = [f for f in broken if STATUS_ORDER[f.severity or "ok"] >= limit]
    if failed or failed_rules:
        parts = [f"{len(failed)} check(s)"] + (
            [f"{len(failed_rules)} rule finding(s)"] if rules else []
        )
        console.print(
            f"[bold red]check failed[/]: {' and '.join(parts)} at or above {args.fail_on}",
            highlight=False,
        )
        return EXIT_CHECK_FAILED
    console.print(
        f"[bold green]check passed[/]: nothing at or above {args.fail_on}", highlight=False
    )
    return 0


def _load_rules(path: str) -> tuple[Rule, ...]:
    """Rules from a YAML file: a list, or a mapping with `rules:` (or `alerts: {rules:}`, as in
    the service's config file)."""
    from vigil.alerts import parse_rules
    from vigil.config import read_yaml

    data = read_yaml(path, "the rules")
    if isinstance(data, dict) and isinstance(data.get("alerts"), dict):
        data = data["alerts"]
    if isinstance(data, dict):
        data = data.get("rules")
    rules = parse_rules(data, f"{path}: rules")
    if not rules:
        raise ConfigError(f"{path}: no rules; write a list of rules (docs/alerts.md).")
    return rules


def _judge_rules(rules: tuple[Rule, ...], report: Report, console: Console) -> list[Finding]:
    """The rules' breached findings on one report, printed as a table. One report has no
    earlier windows and no model or version, so those rules are skipped and those scopes
    read as "any"."""
    from datetime import datetime, timezone

    from rich.table import Table

    from vigil.alerts import judge, reference_values
    from vigil.alerts.judge import roles_of
    from vigil.monitor.points import report_points

    usable = []
    for rule in rules:
        if rule.needs_history:
            console.print(
                f"[yellow]rule {escape(rule.name)} skipped[/]: it compares with earlier "
                f"windows, and `vigil check` judges one report.",
                highlight=False,
            )
            continue
        usable.append(replace(rule, scope=replace(rule.scope, models=None, versions=None)))
    now = datetime.now(timezone.utc)
    points = report_points(report, version="", kind="tumbling", segment="", start=now, end=now)
    findings = judge(
        usable, "", points, references=reference_values(report), roles=roles_of(report.spec)
    )
    broken = [f for f in findings if f.severity is not None]
    table = Table(title=f"rules: {len(broken)} breached of {len(findings)} judged")
    for column in ("rule", "severity", "finding"):
        table.add_column(column)
    for finding in sorted(broken, key=lambda f: (f.severity != "critical", f.rule)):
        colour = "red" if finding.severity == "critical" else "yellow"
        table.add_row(
            escape(finding.rule), f"[{colour}]{finding.severity}[/]", escape(finding.message)
        )
    console.print(table)
    return broken


def profile(args: argparse.Namespace, console: Console) -> int:
    """`vigil profile`: summarise a reference into a profile file."""
    from vigil.evaluation import infer_spec, profile_dataset
    from vigil.measure.reading import read_dataset
    from vigil.profile import save_profile

    spec, data = _given_spec(args), args.data
    if spec is None and _has_roles(args):
        data = read_dataset(args.data)
        spec = infer_spec(data, **_roles(args))
    with progress(console, "profiling columns") as update:
        summary = profile_dataset(data, spec, on_progress=update)
    _write(args.output, lambda: save_profile(summary, args.output))
    console.print(
        f"wrote the profile of {summary.rows} rows and {len(summary.columns)} columns "
        f"to [bold]{escape(args.output)}[/]; use it as --reference.",
        highlight=False,
    )
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    return 0


def _save_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
