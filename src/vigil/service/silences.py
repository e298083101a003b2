"""What people write about alerts, checked once for the API and the dashboard's forms: a
silence built from its matchers and times, a verdict's note, a name given as a filter.

Both `POST /v1/silences` (JSON) and the dashboard's silence form (a form) end in
`make_silence`, so a silence the page makes is one the API would have made from the same
values. A ValueError's message is a sentence for the person who sent the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import uuid4

from vigil.errors import ConfigError
from vigil.service.routes.query import MAX_TEXT
from vigil.store.base import Silence
from vigil.units import parse_duration

MATCHER_KEYS = ("rule", "model", "version", "column", "segment")
MAX_NOTE = 10_000  # characters of a verdict's note or a silence's comment
LONGEST_SILENCE = timedelta(days=365)


def storable(value: str, where: str) -> str:
    """Text as the store can keep it: no NUL (PostgreSQL refuses it), no lone surrogate (not
    Unicode); a ValueError naming `where` otherwise."""
    if "\x00" in value:
        raise ValueError(f"{where} holds a NUL character, which vigil cannot store; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
        ) from None
    return value


def check_matchers(matchers: Mapping[str, str]) -> dict[str, str]:
    """Matchers a silence can hold: known keys, 1 to MAX_TEXT characters of storable text."""
    if not matchers:
        raise ValueError(f"give at least one matcher, among {', '.join(MATCHER_KEYS)}")
    for key, text in matchers.items():
        if key not in MATCHER_KEYS:
            raise ValueError(f"unknown matcher {key[:40]!r}; use {', '.join(MATCHER_KEYS)}")
        if not 1 <= len(text) <= MAX_TEXT:
            raise ValueError(f"matcher {key}: 1 to {MAX_TEXT} characters; got {len(text)}")
        storable(text, f"matcher {key}")
    return dict(matchers)


def silence_end(starts: datetime, duration: str) -> datetime:
    """When a silence starting at `starts` and lasting `duration` (30m, 2h, 7d) ends."""
    try:
        seconds = parse_duration(duration, "duration")
    except ConfigError as err:
        raise ValueError(str(err)) from None
    if seconds > LONGEST_SILENCE.total_seconds():
        raise ValueError("duration: at most 365 days (52w).")
    return starts + timedelta(seconds=seconds)


def make_silence(
    matchers: Mapping[str, str],
    *,
    starts: datetime,
    ends: datetime,
    now: datetime,
    actor: str | None,
    comment: str,
) -> Silence:
    """A new silence, or a ValueError saying why these times cannot make one."""
    if ends <= starts:
        raise ValueError(f"ends_at ({_iso(ends)}) must be after starts_at ({_iso(starts)}).")
    if ends - starts > LONGEST_SILENCE:
        raise ValueError(f"a silence lasts at most 365 days; this one {(ends - starts).days} days.")
    if ends <= now:
        raise ValueError(f"ends_at ({_iso(ends)}) is in the past: the silence would never act.")
    if starts - now > LONGEST_SILENCE:
        raise ValueError("starts_at: at most 365 days from now.")
    checked = check_matchers(matchers)
    return Silence(uuid4().hex, checked, starts, ends, now, actor, storable(comment, "comment"))


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"
