"""What a drift or feature page's URL selects besides time: the version, the segment, and the
range anchored on that version's windows; every wrong value a 404 or 422 page naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.monitor.windows import WindowPlan
from vigil.service.state import AppState
from vigil.service.ui.render import PageError
from vigil.service.ui.timerange import TimeRange, model_range
from vigil.store.base import ModelInfo

# no parameter of these pages is longer: a time, a version, a segment label
MAX_PARAMETER = 300


@dataclass(frozen=True, slots=True)
class Selection:
    """A page's version (None: every version), segment ("" the whole window) and range."""

    version: str | None
    segment: str
    timerange: TimeRange
    plan: WindowPlan

    def keep(self) -> dict[str, str]:
        """The query parameters besides the range that links keep."""
        return {k: v for k, v in (("version", self.version), ("segment", self.segment)) if v}


def text_parameter(name: str, value: str | None) -> str | None:
    """A query parameter as given, refused (422) when oversized or holding control characters."""
    if value is None:
        return None
    if len(value) > MAX_PARAMETER:
        raise PageError(
            422, f"{name} is {len(value)} characters long; at most {MAX_PARAMETER} are read."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PageError(422, f"{name} holds control characters; give it as plain text.")
    return value


def select(
    state: AppState,
    model: ModelInfo,
    *,
    last: str | None,
    since: str | None,
    until: str | None,
    step: str | None,
    version: str | None,
    segment: str | None,
) -> Selection:
    """The selection a page's query parameters ask for (PageError when one is wrong)."""
    for name, value in (("last", last), ("since", since), ("until", until), ("step", step)):
        text_parameter(name, value)
    chosen = text_parameter("version", version) or None
    if chosen is not None and chosen not in model.specs:
        known = ", ".join(sorted(model.specs))
        raise PageError(
            404, f"Model {model.name!r} has no version {chosen!r}. Its versions: {known}."
        )
    part = text_parameter("segment", segment) or ""
    plan = state.monitor.plan_for(model.name)
    if part:
        column, sep, _ = part.partition("=")
        if not sep or column not in plan.segments:
            columns = ", ".join(plan.segments) or "none are configured (windows.segments)"
            raise PageError(
                404,
                f"segment={part[:60]!r} is not a segment of {model.name!r}; write "
                f"<column>=<value> with a segment column: {columns}.",
            )
    timerange = model_range(
        state, model, last=last, since=since, until=until, step=step, version=chosen
    )
    return Selection(chosen, part, timerange, plan)
