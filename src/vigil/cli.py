"""The `vigil` command: parse, call the library, print. Nothing else lives here.

Exit codes: 0 done (a report is written whether or not drift was found), 1 `vigil check` found
a check at or above --fail-on, 2 a usage error (bad file, bad spec, bad option).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vigil.cli_service import add_service_commands
from vigil.errors import VigilError
from vigil.evaluate import evaluate, profile_dataset
from vigil.io import read_dataset
from vigil.profile import is_profile_file, save_profile
from vigil.report import render_terminal, write_html, write_json
from vigil.report.model import STATUS_ORDER, Report
from vigil.spec import Spec, dump_spec, infer_spec, load_spec

PROGRESS_AFTER_SECONDS = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vigil` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(stderr=False)
    errors = Console(stderr=True)
    try:
        code: int = args.run(args, console)
        return code
    except VigilError as err:
        if args.debug:
            raise
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil", description="Watch machine-learning models: drift, data quality, performance."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="infer a spec from a reference set and write it as YAML")
    p.add_argument("--reference", required=True, metavar="DATA")
    _role_options(p)
    p.add_argument(
        "-o",
        "--output",
        default="vigil.yaml",
        metavar="FILE",
        help="where to write the spec ('-' for the terminal; default vigil.yaml)",
    )
    p.set_defaults(run=_init)

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
        if name == "check":
            p.add_argument(
                "--fail-on",
                choices=("warning", "critical"),
                default="critical",
                help="exit 1 when a check reaches this status (default critical)",
            )
        p.set_defaults(run=_report if name == "report" else _check)

    p = sub.add_parser("profile", help="summarise a reference set into a reusable profile file")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--spec", metavar="FILE")
    _role_options(p)
    p.set_defaults(run=_profile)

    p = sub.add_parser("demo", help="run a report on a built-in credit-scoring scenario")
    p.add_argument(
        "--output-dir",
        default=".",
        metavar="DIR",
        help="where to write report.html and report.json (default: here)",
    )
    p.add_argument("--rows", type=int, default=20_000, help="rows per set (default 20000)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(run=_demo)

    add_service_commands(sub)
    return parser


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


def _scores(args: argparse.Namespace) -> list[str]:
    return [s.strip() for item in args.score for s in item.split(",") if s.strip()]


def _has_roles(args: argparse.Namespace) -> bool:
    return any(
        (args.target, args.prediction, args.score, args.id_column, args.timestamp, args.segment)
    )


def _inferred_spec(args: argparse.Namespace, table: Any) -> Spec:
    return infer_spec(
        table,
        target=args.target,
        prediction=args.prediction,
        scores=_scores(args),
        id_column=args.id_column,
        timestamp=args.timestamp,
        segments=args.segment,
    )


def _spec_and_reference(args: argparse.Namespace, reference: str) -> tuple[Spec | None, Any]:
    """The spec to use, and the reference to pass on (read once if reading it was needed)."""
    if args.spec:
        if _has_roles(args):
            raise VigilError(
                "give either --spec or the role options (--target, --score, ...), "
                "not both: the spec already says which column is which."
            )
        return load_spec(args.spec), reference
    if not _has_roles(args):
        return None, reference
    if Path(reference).is_file() and is_profile_file(reference):
        raise VigilError(
            f"{reference!r} is a profile and carries its own spec; drop the role options "
            f"(--target, --score, ...)."
        )
    data = read_dataset(reference)
    return _inferred_spec(args, data.table), data


@contextmanager
def _progress(console: Console, what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar that appears only once the work has taken more than a second."""
    started = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None, "done": 0, "total": None}
    lock = threading.Lock()

    def show() -> None:
        with lock:
            if state["bar"] is None and console.is_terminal:
                bar = Progress(
                    TextColumn(what),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                )
                bar.start()
                state["bar"] = bar
                state["task"] = bar.add_task(what, total=state["total"], completed=state["done"])

    timer = threading.Timer(PROGRESS_AFTER_SECONDS, show)
    timer.daemon = True
    timer.start()

    def update(done: int, total: int) -> None:
        with lock:
            state["done"], state["total"] = done, total
            if state["bar"] is not None:
                state["bar"].update(state["task"], completed=done, total=total)
        if state["bar"] is None and time.monotonic() - started > PROGRESS_AFTER_SECONDS:
            show()

    try:
        yield update
    finally:
        timer.cancel()
        if state["bar"] is not None:
            state["bar"].stop()


def _init(args: argparse.Namespace, console: Console) -> int:
    with _progress(console, "reading the reference"):
        table = read_dataset(args.reference).table
    spec = _inferred_spec(args, table)
    text = dump_spec(spec)
    if args.output == "-":
        console.print(text, markup=False, highlight=False, end="")
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    console.print(
        f"wrote the spec of {len(spec.columns)} columns to "
        f"[bold]{escape(args.output)}[/]; review the roles and kinds, then pass it "
        f"with --spec.",
        highlight=False,
    )
    return 0


def _run_report(args: argparse.Namespace, console: Console) -> Report:
    spec, reference = _spec_and_reference(args, args.reference)
    with _progress(console, "evaluating columns") as update:
        report = evaluate(reference, args.current, spec, on_progress=update)
    if args.quiet:
        console.print(
            f"status: {report.status}; {report.drift.n_drifted} of "
            f"{report.drift.n_features} features drifted",
            highlight=False,
        )
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


def _report(args: argparse.Namespace, console: Console) -> int:
    _run_report(args, console)
    return 0


def _check(args: argparse.Namespace, console: Console) -> int:
    report = _run_report(args, console)
    limit = STATUS_ORDER[args.fail_on]
    failed = [c for c in report.checks if STATUS_ORDER[c.status] >= limit]
    if failed:
        console.print(
            f"[bold red]check failed[/]: {len(failed)} check(s) at or above {args.fail_on}",
            highlight=False,
        )
        return 1
    console.print(
        f"[bold green]check passed[/]: nothing at or above {args.fail_on}", highlight=False
    )
    return 0


def _profile(args: argparse.Namespace, console: Console) -> int:
    spec, data = _spec_and_reference(args, args.data)
    with _progress(console, "profiling columns") as update:
        profile = profile_dataset(data, spec, on_progress=update)
    _write(args.output, lambda: save_profile(profile, args.output))
    console.print(
        f"wrote the profile of {profile.rows} rows and {len(profile.columns)} columns "
        f"to [bold]{escape(args.output)}[/]; use it as --reference.",
        highlight=False,
    )
    return 0


def _demo(args: argparse.Namespace, console: Console) -> int:
    from vigil.demo import run_demo

    out = Path(args.output_dir)
    if args.rows < 100:
        raise VigilError(f"--rows must be at least 100; got {args.rows}.")
    with _progress(console, "running the demo"):
        report, html, json_path = run_demo(out, rows=args.rows, seed=args.seed)
    render_terminal(report, console)
    console.print(
        f"\nwrote [bold]{escape(str(html))}[/] and [bold]{escape(str(json_path))}[/]"
        f" — open the HTML file in a browser.",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
