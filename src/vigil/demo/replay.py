"""The replay: the story's traffic sent day by day through the Python SDK to a running
`vigil serve`, each day's windows judged before the next day is sent, and every alert noted
with the story time at which its evidence was complete.

The service's clock is the real one and the story is back-dated, so every hour of the story
is already over when its rows arrive. The demo's config turns off the scheduler's own
evaluation after new rows (`alerts.evaluate_after: off`, an interval of an hour) and asks for
it instead (`POST /v1/models/{model}/evaluate`) once a day's rows and the labels that arrived
during it are stored. The engine judges a batch's windows oldest first, so windows are judged
in story order, as a live service judges each when it closes (within `evaluate_after`). The
story time an alert is "seen" is when the window that opened it was complete: its end, or for
a rule on performance, the end plus the label delay, when its labels had arrived. A day at a
time, not an hour, because each evaluation's fixed cost (the claims, the transaction, the
alert engine's reads) is most of an hourly window's: the month takes a quarter of the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa

from vigil.client import Client
from vigil.demo.story import Hour, Story
from vigil.errors import VigilError

MODEL, VERSION = "credit", "1"
# what a reader calls each default rule of docs/alerts.md the demo waits for
KINDS = {
    "default.dataset-drift": "data drift",
    "default.score-drift": "prediction drift",
    "estimated-performance": "performance, estimated before labels",
    "default.performance": "performance",
}
FLUSH_TIMEOUT = 120.0  # seconds for one hour's records to be stored (they take milliseconds)


@dataclass(frozen=True, slots=True)
class Detection:
    """An alert as the demo first saw it, with the story hour after which it showed."""

    rule: str
    column: str
    severity: str
    window_start: datetime
    window_end: datetime
    seen_at: datetime  # story time: when the window's rows (or labels) were all in
    message: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the replay sent and what vigil found."""

    story: Story
    detections: tuple[Detection, ...]
    predictions: int
    labels: int
    windows: int  # window computations: each hour once, and again when its labels came
    seconds: float  # wall-clock time of the replay
    actions: tuple[dict[str, Any], ...]  # the service's action decisions, oldest first
    shifted: pa.Table  # every row after the change, with its outcome
    arrived: pa.Table  # every label sent: id, label, timestamp, arrived (story time)

    def first(self, rule: str) -> Detection | None:
        """The first alert of `rule` seen, or None."""
        found = [d for d in self.detections if d.rule == rule]
        return min(found, key=lambda d: d.seen_at) if found else None

    def before_change(self) -> list[Detection]:
        """Alerts on windows before the change: false alarms."""
        return [d for d in self.detections if d.window_start < self.story.change_at]

    def summary(self) -> dict[str, Any]:
        """What the demo found, as the JSON it writes beside its data (`outcome.json`)."""
        story = self.story
        first = {rule: self.first(rule) for rule in KINDS}
        return {
            "start": story.start.isoformat() + "Z",
            "change_at": story.change_at.isoformat() + "Z",
            "days": story.days,
            "label_delay_hours": story.label_delay / timedelta(hours=1),
            "predictions": self.predictions,
            "labels": self.labels,
            "window_computations": self.windows,
            "seconds": round(self.seconds, 1),
            "time_to_detect_hours": {
                rule: None if d is None else (d.seen_at - story.change_at) / timedelta(hours=1)
                for rule, d in first.items()
            },
            "alerts": [
                {
                    "rule": d.rule,
                    "column": d.column,
                    "severity": d.severity,
                    "window_start": d.window_start.isoformat() + "Z",
                    "window_end": d.window_end.isoformat() + "Z",
                    "seen_at": d.seen_at.isoformat() + "Z",
                    "message": d.message,
                }
                for d in self.detections
            ],
            "actions": list(self.actions),
        }


def replay(
    story: Story,
    url: str,
    *,
    on_hour: Callable[[Hour], None] | None = None,
    on_day: Callable[[datetime, list[Detection]], None] | None = None,
) -> Outcome:
    """Send the story to the service at `url` and collect what it found; see the module."""
    began = time.perf_counter()
    hours: list[Hour] = []
    seen: set[str] = set()
    detections: list[Detection] = []
    predictions = labels = windows = 0
    arrivals: list[pa.Table] = []
    with (
        Client(url, batch_size=5000, max_batch_size=50_000, timeout=60.0) as client,
        httpx.Client(base_url=url, timeout=300.0) as api,
    ):
        for day in range(story.days):
            sent_rows, sent_labels = [], []
            for index in range(day * 24, day * 24 + 24):
                hour = story.hour(index)
                hours.append(hour)
                sent_rows.append(hour.predictions)
                due = story.labels_due(index)
                if due is not None:
                    sent_labels.append(hours[due].labels)
                    arrivals.append(_arrived(hours[due].labels, hour.end))
                if on_hour is not None:
                    on_hour(hour)
            day_rows = pa.concat_tables(sent_rows)
            client.log_predictions(MODEL, day_rows, version=VERSION)
            predictions += day_rows.num_rows
            if sent_labels:
                day_labels = pa.concat_tables(sent_labels)
                client.log_labels(MODEL, day_labels)
                labels += day_labels.num_rows
            if not client.flush(FLUSH_TIMEOUT):
                raise VigilError(
                    f"the service at {url} did not take day {day + 1}'s records within "
                    f"{FLUSH_TIMEOUT:.0f} s; see its log."
                )
            windows += len(_call(api, "POST", f"/v1/models/{MODEL}/evaluate")["computed"])
            new = _new_alerts(api, seen, story)
            detections.extend(new)
            if on_day is not None:
                on_day(hours[-1].end, new)
        stats = client.stats()
        if stats.rejected or stats.dropped_invalid or stats.dropped_overflow:
            raise VigilError(
                f"the service refused some of the demo's records ({stats}); last errors: "
                f"{client.last_errors()}"
            )
        actions = _call(api, "GET", f"/v1/models/{MODEL}/actions", params={"limit": 1000})
    shifted = [h.rows for h in hours if h.start >= story.change_at]
    return Outcome(
        story,
        tuple(sorted(detections, key=lambda d: (d.seen_at, d.window_start, d.rule, d.column))),
        predictions,
        labels,
        windows,
        time.perf_counter() - began,
        tuple(reversed(actions["actions"])),
        pa.concat_tables(shifted),
        pa.concat_tables(arrivals) if arrivals else _no_labels(),
    )


def _arrived(labels: pa.Table, at: datetime) -> pa.Table:
    utc = pa.timestamp("us", tz="UTC")
    return labels.append_column("arrived", pa.array([at] * labels.num_rows, utc))


def _new_alerts(api: httpx.Client, seen: set[str], story: Story) -> list[Detection]:
    """The alerts that fired since the last look (a pending alert has not told anyone yet),
    each as the event that opened it says: its window, severity and message."""
    found = _call(api, "GET", f"/v1/models/{MODEL}/alerts", params={"limit": 1000})["alerts"]
    new = []
    for alert in found:
        if alert["id"] in seen or alert["opened_at"] is None:
            continue
        seen.add(alert["id"])
        events = _call(api, "GET", f"/v1/alerts/{alert['id']}")["events"]
        opened = next(e for e in events if e["kind"] == "opened")
        end = _time(opened["window_end"])
        labelled = alert["metric"].startswith("performance")
        new.append(
            Detection(
                alert["rule"],
                alert["column"],
                opened["severity"],
                _time(opened["window_start"]),
                end,
                end + story.label_delay if labelled else end,
                opened["message"],
            )
        )
    return new


def _call(api: httpx.Client, method: str, path: str, **options: Any) -> dict[str, Any]:
    try:
        answer = api.request(method, path, **options)
    except httpx.HTTPError as err:
        raise VigilError(f"the demo's service did not answer {method} {path}: {err}") from None
    if answer.status_code != 200:
        raise VigilError(
            f"the demo's service answered {method} {path} with {answer.status_code}: "
            f"{answer.text[:300]}"
        )
    body: dict[str, Any] = answer.json()
    return body


def _time(text: str) -> datetime:
    """An API time (ISO 8601 with Z) as a naive UTC datetime, as the story's times are."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=None)


def _no_labels() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([], pa.string()),
            "label": pa.array([], pa.string()),
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
            "arrived": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )
