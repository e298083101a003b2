"""`vigil demo` (`vigil.cli` parses): start the service, replay the story through the SDK,
print what vigil noticed and when, then serve the dashboard until Ctrl-C (or exit with
--no-serve). The story and its parts live in `vigil.demo`; this module only runs and prints.
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.demo.data import credit_spec, write_reference, write_report, write_table
from vigil.demo.folder import DemoFolder
from vigil.demo.process import ServeProcess
from vigil.demo.receiver import Receiver
from vigil.demo.replay import KINDS, Detection, Outcome, replay
from vigil.demo.story import Hour, Story
from vigil.errors import VigilError

OnHour = Callable[[Hour], None]
OnDay = Callable[[datetime, list[Detection]], None]

SETTLE_SECONDS = 15.0  # how long the outbox gets to deliver the last notices after the replay


def demo(args: argparse.Namespace, console: Console) -> int:
    """`vigil demo`: the whole story; see the module."""
    if not 0 < args.port < 65536:
        raise VigilError(f"--port must be between 1 and 65535; got {args.port}.")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        story = Story(
            start=story_start(now, args.days),
            days=args.days,
            change_day=args.change_day,
            rows_per_hour=args.rows_per_hour,
            seed=args.seed,
        )
    except ValueError as err:
        raise VigilError(f"{err} Check --days, --change-day and --rows-per-hour.") from None
    folder = DemoFolder(Path(args.data))
    folder.prepare()
    reference = story.reference()
    spec = credit_spec(reference)
    written = list(write_reference(folder.path, reference, spec))
    receiver = Receiver(on_delivery=lambda d: _print_delivery(console, d.path, d.body))
    folder.write_config(
        port=args.port,
        start=story.start,
        now=now,
        notify=receiver.url("/notify"),
        retrain=receiver.url("/retrain"),
    )
    _print_story(console, story)
    # `kill` (SIGTERM) stops the demo as Ctrl-C does, so its service is stopped with it
    signal.signal(signal.SIGTERM, _interrupt)
    service = ServeProcess(folder.config, args.port, folder.log)
    try:
        console.print(f"vigil serve is up on {service.url} (log: {escape(str(folder.log))})")
        with _hours_bar(console, story) as (on_hour, on_day):
            outcome = replay(story, service.url, on_hour=on_hour, on_day=on_day)
        _settle(receiver, outcome)
        written.append(write_table(folder.path / "current.parquet", outcome.shifted))
        written.append(write_table(folder.labels, outcome.arrived))
        _, reports = write_report(folder.path, reference, outcome.shifted, spec)
        written.extend(reports)
        notices = [d.body for d in receiver.deliveries("/notify")]
        retrains = [d.body for d in receiver.deliveries("/retrain")]
        found = {**outcome.summary(), "received": {"notices": notices, "retrains": retrains}}
        written.append(folder.outcome)
        folder.outcome.write_text(json.dumps(found, indent=2), encoding="utf-8")
        _print_outcome(console, outcome, KINDS, receiver)
        console.print(
            "\nwrote " + ", ".join(f"[bold]{escape(str(p))}[/]" for p in written) + ". Try "
            "the commands of the README on them, e.g.\n  vigil check --reference "
            f"{escape(str(written[0]))} --current {escape(str(written[2]))} --spec "
            f"{escape(str(written[1]))}",
            highlight=False,
        )
        dashboard = f"{service.url}/models/credit"
        if args.no_serve:
            console.print(f"\nThe dashboard was at {dashboard} (--no-serve: stopping).")
            return 0
        console.print(
            f"\n[bold]Dashboard:[/] {dashboard}\nThe service keeps running (the same API, "
            f"store {escape(str(folder.store))}); press Ctrl-C to stop it.",
            highlight=False,
        )
        try:
            code = service.wait()
        except KeyboardInterrupt:
            console.print("stopping the service…")
            return 0 if service.stop() == 0 else 3
        raise VigilError(f"vigil serve stopped by itself (exit {code}); see {folder.log}.")
    finally:
        service.stop()
        receiver.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def story_start(now: datetime, days: int) -> datetime:
    """The latest 1 January from which the whole story lies in the past."""
    year = now.year
    while datetime(year, 1, 1) + timedelta(days=days) > now:
        year -= 1
    return datetime(year, 1, 1)


def _print_story(console: Console, story: Story) -> None:
    console.print(
        f"[bold]The story[/]: a credit-scoring model deployed on {story.start:%b %d %Y} "
        f"(ROC AUC about 0.75). On {story.change_at:%b %d} its applicants' behaviour changes "
        f"(incomes fall, a new online channel, more debt consolidation); its skill falls to "
        f"about 0.68 by {story.worst_at:%b %d}. Labels arrive two days late.\n"
        f"Replaying {story.days} days (~{story.rows_per_hour} predictions an hour) through "
        f"the Python SDK, a day at a time (each day judged before the next is sent)…",
        highlight=False,
    )


@contextmanager
def _hours_bar(console: Console, story: Story) -> Iterator[tuple[OnHour, OnDay]]:
    """Callbacks for each hour sent and each day judged: a progress bar over the story's
    hours on a terminal, one line a day elsewhere; each alert printed as it is found."""
    found = [0]

    def judged(day_end: datetime, new: list[Detection]) -> None:
        found[0] += len(new)
        for d in new:
            console.print(
                f"  [bold red]alert[/] {escape(d.rule)} {escape(d.column)} ({d.severity}) on "
                f"the window {d.window_start:%b %d %H:%M}, seen {d.seen_at:%b %d %H:%M}",
                highlight=False,
            )
        if not console.is_terminal:
            console.print(f"{day_end - timedelta(days=1):%b %d} replayed and judged")

    if not console.is_terminal:
        yield (lambda hour: None), judged
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("hours · {task.fields[alerts]} alerts"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(f"{story.start:%b %d %H:%M}", total=story.hours, alerts=0)

        def sent(hour: Hour) -> None:
            bar.update(task, advance=1, description=f"{hour.end:%b %d %H:%M}")

        def judged_on_bar(day_end: datetime, new: list[Detection]) -> None:
            judged(day_end, new)
            bar.update(task, alerts=found[0])

        yield sent, judged_on_bar


def _print_delivery(console: Console, path: str, body: Any) -> None:
    """A notice or retrain request as the receiver got it."""
    if not isinstance(body, dict):
        return
    if path == "/retrain":
        console.print(
            f"  [magenta]receiver ← retrain request[/] (trigger {escape(str(body.get('trigger')))})"
            f": {escape(str(body.get('reason')))}",
            highlight=False,
        )
        return
    console.print(f"  [cyan]receiver ← notice[/] {escape(str(body.get('summary')))}")
    for alert in body.get("alerts") or []:
        if isinstance(alert, dict):
            console.print(f"      {escape(str(alert.get('message')))}", highlight=False)


def _settle(receiver: Receiver, outcome: Outcome) -> None:
    """Wait (briefly) for the outbox to deliver the notices of the last alerts."""
    deadline = time.monotonic() + SETTLE_SECONDS
    opened = {(d.rule, d.column) for d in outcome.detections}
    while time.monotonic() < deadline:
        told = {
            (a.get("rule"), a.get("column"))
            for d in receiver.deliveries("/notify")
            for a in d.body.get("alerts") or []
            if isinstance(a, dict)
        }
        if opened <= told:
            return
        time.sleep(0.1)


def _print_outcome(
    console: Console, outcome: Outcome, kinds: dict[str, str], receiver: Receiver
) -> None:
    story = outcome.story
    console.print(
        f"\n[bold]Replayed[/] {outcome.predictions:,} predictions and {outcome.labels:,} labels "
        f"({outcome.windows:,} window computations) in {outcome.seconds:.0f} s.",
        highlight=False,
    )
    table = Table(
        title=f"Time to detect (story time, from the change on {story.change_at:%b %d %H:%M})"
    )
    for name in ("alert", "rule", "first window", "seen at", "time to detect"):
        table.add_column(name)
    for rule, kind in kinds.items():
        first = outcome.first(rule)
        if first is None:
            table.add_row(kind, rule, "—", "—", "[red]not detected[/]")
        else:
            table.add_row(
                kind,
                rule,
                f"{first.window_start:%b %d %H:%M}",
                f"{first.seen_at:%b %d %H:%M}",
                _duration(first.seen_at - story.change_at),
            )
    console.print(table)
    false_alarms = outcome.before_change()
    console.print(
        f"Alerts on the {story.change_day - 1} days before the change: {len(false_alarms)}.",
        highlight=False,
    )
    alerts = Table(title="Alerts")
    for name in ("seen at", "rule", "column", "severity", "window", "message"):
        alerts.add_column(name)
    for d in outcome.detections:
        alerts.add_row(
            f"{d.seen_at:%b %d %H:%M}",
            escape(d.rule),
            escape(d.column),
            d.severity,
            f"{d.window_start:%b %d %H:%M}",
            escape(d.message),
        )
    console.print(alerts)
    retrains = [a for a in outcome.actions if a.get("kind") == "retrain"]
    for a in retrains:
        state = "taken" if a.get("taken") else "skipped"
        console.print(
            f"Retrain {state} (trigger {escape(str(a.get('trigger')))}): "
            f"{escape(str(a.get('reason')))}",
            highlight=False,
        )
    console.print(
        f"The receiver got {len(receiver.deliveries('/notify'))} notice(s) and "
        f"{len(receiver.deliveries('/retrain'))} retrain request(s).",
        highlight=False,
    )


def _duration(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days ({hours:.0f} h)"
