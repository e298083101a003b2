"""The time range and the step of a dashboard page, read from its URL.

A page shows the windows whose start is in `[since, until)`. `last=7d` (the default) means the
seven days up to the end of the model's latest window — not up to now, so a model that stopped
receiving data, or replayed data, still shows its last week; `since`/`until` pin absolute times,
and every page links to its own pinned URL, for a ticket. The step groups windows for charts:
`window` shows each, a duration (`1h`, `6h`, `1d`, `7d`, `30d`) groups the windows starting in
each step (worst status, mean value), and `auto` picks each window when at most `MAX_BUCKETS`
fit and otherwise the smallest step that fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from vigil.ingest.validate import iso_time
from vigil.service.state import AppState
from vigil.service.ui.render import PageError
from vigil.store.base import ModelInfo

LASTS = {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400, "90d": 90 * 86_400,
         "365d": 365 * 86_400, "all": None}  # fmt: skip
STEPS = {"1h": 3600, "6h": 6 * 3600, "1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
MAX_BUCKETS = 400
DEFAULT_LAST = "7d"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """What a page shows: window starts in [since, until), grouped by `step_seconds` (None:
    each window). `last`/`step` are what the URL asked, to keep in links."""

    since: datetime | None
    until: datetime | None
    last: str | None
    step: str
    step_seconds: int | None

    def query(self) -> dict[str, str]:
        """The URL parameters that reproduce this range (relative when it was)."""
        out: dict[str, str] = {}
        if self.last is not None:
            out["last"] = self.last
        else:
            if self.since is not None:
                out["since"] = self.since.isoformat() + "Z"
            if self.until is not None:
                out["until"] = self.until.isoformat() + "Z"
        if self.step != "auto":
            out["step"] = self.step
        return out

    def pinned(self) -> dict[str, str]:
        """The URL parameters of the same times, absolute: what a ticket should link to."""
        out = {k: v for k, v in self.query().items() if k != "last"}
        if self.since is not None:
            out["since"] = self.since.isoformat() + "Z"
        if self.until is not None:
            out["until"] = self.until.isoformat() + "Z"
        return out

    def query_string(self, **extra: str) -> str:
        """`?last=7d&...` with `extra` parameters added (empty values dropped)."""
        params = {**self.query(), **{k: v for k, v in extra.items() if v}}
        return "?" + urlencode(params) if params else ""


def _moment(value: str, name: str) -> datetime:
    try:
        moment = iso_time(value)
    except (ValueError, OverflowError):
        raise PageError(
            422, f"{name}={value[:40]!r} is not a time; write e.g. 2026-11-23T10:00:00Z."
        ) from None
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
    return moment


def parse_range(
    *,
    last: str | None,
    since: str | None,
    until: str | None,
    step: str | None,
    first_start: datetime | None,
    latest_end: datetime | None,
    window_seconds: int,
) -> TimeRange:
    """The range a page's URL asks for; PageError (422) naming the parameter when it is wrong.

    `first_start`/`latest_end`: the model's earliest window start and latest window end (None
    when it has none yet); `window_seconds`: its window size, for the automatic step.
    """
    step = step or "auto"
    if step not in ("auto", "window", *STEPS):
        raise PageError(
            422, f"step={step[:20]!r} is not a step; use auto, window, {', '.join(STEPS)}."
        )
    if since is not None or until is not None:
        start = None if since is None else _moment(since, "since")
        end = None if until is None else _moment(until, "until")
        if start is not None and end is not None and end <= start:
            raise PageError(422, "until must be later than since.")
        chosen_last = None
    else:
        chosen_last = last or DEFAULT_LAST
        if chosen_last not in LASTS:
            raise PageError(
                422, f"last={chosen_last[:20]!r} is not a range; use {', '.join(LASTS)}."
            )
        seconds = LASTS[chosen_last]
        end = None if latest_end is None else latest_end
        start = None if seconds is None or end is None else end - timedelta(seconds=seconds)
        if end is not None:
            end = end + timedelta(microseconds=1)  # the latest window itself is shown
    span_start = start or first_start
    span_end = end or latest_end
    if step == "window":
        step_seconds: int | None = None
    elif step in STEPS:
        step_seconds = STEPS[step]
    elif span_start is None or span_end is None:
        step_seconds = None
    else:
        span = max((span_end - span_start).total_seconds(), 1.0)
        if math.ceil(span / max(window_seconds, 1)) <= MAX_BUCKETS:
            step_seconds = None
        else:
            fits = [s for s in STEPS.values() if math.ceil(span / s) <= MAX_BUCKETS]
            step_seconds = fits[0] if fits else max(STEPS.values())
    return TimeRange(start, end, chosen_last, step, step_seconds)


def model_range(
    state: AppState,
    model: ModelInfo,
    *,
    last: str | None,
    since: str | None,
    until: str | None,
    step: str | None,
    version: str | None = None,
    latest_end: datetime | None = None,
) -> TimeRange:
    """`parse_range` anchored at the model's computed windows (of one version, or all) and
    its window size; `latest_end` replaces the latest window's end (a page whose rows are
    not windows, such as the quarantine, anchors `last` at its own newest row)."""
    span = state.store.window_span(model, version)
    latest = None if span is None else span.latest_end
    if latest_end is not None:
        latest = latest_end if latest is None else max(latest, latest_end)
    return parse_range(
        last=last,
        since=since,
        until=until,
        step=step,
        first_start=None if span is None else span.first_start,
        latest_end=latest,
        window_seconds=state.monitor.plan_for(model.name).size_seconds,
    )
