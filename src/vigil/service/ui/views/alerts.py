"""The alerts page: a model's alerts as a timeline and a table, each rule's precision, the
silences, and the buttons that acknowledge, mark and silence (forms posting with the CSRF
token; each store call is the one the JSON API makes, with the checks of service/silences.py).

The timeline is drawn in data time, as every page is: a bar runs from the start of the
earliest window an alert's evidence came from to its latest evidence window's end, and an
alert not resolved runs on to the model's latest window. (`began` and `opened_at` are the
service's own clock; a replayed or backfilled month opens its alerts within minutes of it.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from vigil.alerts.rules import Status
from vigil.service.routes.query import MAX_TEXT
from vigil.service.silences import MAX_NOTE, make_silence, silence_end, storable
from vigil.service.state import AppState, state_of
from vigil.service.ui.charts import ms
from vigil.service.ui.forms import read_form
from vigil.service.ui.render import PageError, href, number, page, page_model
from vigil.service.ui.session import Viewer, check_form, page_viewer
from vigil.service.ui.timerange import TimeRange, model_range
from vigil.store.base import AlertStatus, AlertVerdict, ModelInfo, Silence, StoredAlert, utcnow
from vigil.store.dashboard import AlertSpan

router = APIRouter(include_in_schema=False)
MAX_ROWS = 500  # alerts in the table; the filters narrow a longer list
ID = re.compile(r"[0-9a-fA-F]{32}")
STATUSES: tuple[AlertStatus, ...] = ("firing", "pending", "resolved")
SEVERITIES = ("critical", "warning")
VERDICTS: dict[str, AlertVerdict] = {
    "true_positive": "true_positive",
    "false_positive": "false_positive",
}
DURATIONS = ("1h", "4h", "1d", "3d", "7d", "30d")
KEPT = ("last", "since", "until", "step", "status", "severity", "rule")  # kept after a POST
DONE = {
    "acknowledged": "The alert is acknowledged.",
    "true_positive": "The alert is marked a true positive.",
    "false_positive": "The alert is marked a false positive.",
    "silenced": "The silence is in force.",
    "unsilenced": "The silence is deleted.",
}


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One line of the table: the alert, its span in data time, its window page."""

    alert: StoredAlert
    first_start: datetime
    window_href: str
    row: str  # its timeline row: rule, and column when it has one
    by_status: bool  # its rule fires on the point's own status (its threshold is a rank)


@dataclass(frozen=True, slots=True)
class Precision:
    """A rule's precision from people's marks."""

    rule: str
    true_positive: int
    false_positive: int

    @property
    def share(self) -> float | None:
        """True positives among marked alerts; None before any mark."""
        marked = self.true_positive + self.false_positive
        return self.true_positive / marked if marked else None


def window_href(model: str, alert: StoredAlert) -> str:
    """The page of the window an alert's latest evidence is from."""
    start = alert.window_start.isoformat() + "Z"
    return href("/models", model, "windows", alert.version, alert.window_kind, start)


def _row_name(alert: StoredAlert) -> str:
    return f"{alert.rule} · {alert.column}" if alert.column else alert.rule


def timeline_chart(
    rows: list[AlertRow], *, now: datetime, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """The `timeline` chart: one row per rule and column, a bar per alert coloured by its
    severity (grey while pending), over the range [since, until) (each end, when None, the
    alerts' own); a click opens the evidence window."""
    names = sorted({r.row for r in rows})
    index = {name: i for i, name in enumerate(names)}
    items = []
    for r in rows:
        a = r.alert
        is_open = a.status != "resolved"
        end = max(now, a.window_end) if is_open else a.window_end
        start = r.first_start if since is None else max(r.first_start, since)
        colour = "pending" if a.status == "pending" else a.severity
        label = (
            f"{a.severity} · {a.status} · {a.metric} {number(a.value)} vs {number(a.threshold)}"
            f" · version {a.version}" + (f" · {a.segment}" if a.segment else "")
        )
        items.append([index[r.row], ms(start), ms(end), colour, label, r.window_href, is_open])
    chart: dict[str, Any] = {"kind": "timeline", "rows": names, "items": items, "labelWidth": 240}
    if since is not None:
        chart["min"] = ms(since)
    if until is not None:
        chart["max"] = ms(min(until, now))
    return chart


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise PageError(422, f"{name}={value[:40]!r} is not one of {', '.join(allowed)}.")
    return value


def _rule_filter(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise PageError(422, f"rule= is {len(value)} characters; a rule name has at most 1000.")
    try:
        return storable(value, "rule=")
    except ValueError as err:
        raise PageError(422, f"{err}.") from None


def model_silences(silences: list[Silence], model: str, now: datetime) -> list[Silence]:
    """The silences that are not over and can match this model's alerts (no model matcher,
    or one that matches its name), the latest to end first."""
    shown = [
        s for s in silences if s.ends_at > now and fnmatchcase(model, s.matchers.get("model", "*"))
    ]
    return sorted(shown, key=lambda s: (s.ends_at, s.id), reverse=True)


@router.get("/models/{model}/alerts", response_class=HTMLResponse)
async def alerts_page(
    model: str,
    request: Request,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    step: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)
    chosen_status = cast("AlertStatus | None", _choice(status, STATUSES, "status"))
    chosen_severity = _choice(severity, SEVERITIES, "severity")
    chosen_rule = _rule_filter(rule)

    def read() -> dict[str, Any]:
        info = page_model(state, model)
        timerange = model_range(state, info, last=last, since=since, until=until, step=step)
        span = state.store.window_span(info)  # open alerts' bars run to its latest window
        found = state.store.alert_spans(
            info,
            status=chosen_status,
            severity=chosen_severity,
            rule=chosen_rule,
            since=timerange.since,
            until=timerange.until,
            limit=MAX_ROWS + 1,
        )
        now = utcnow()
        return {
            "info": info,
            "timerange": timerange,
            "spans": found,
            "latest": now if span is None else span.latest_end,
            "precision": state.store.rule_precision(info),
            "silences": model_silences(state.store.list_silences(active_at=None), info.name, now),
            "rules": state.alerting.engine.rules_for(info),
            "now": now,
        }

    got = await run_in_threadpool(read)
    info: ModelInfo = got["info"]
    timerange: TimeRange = got["timerange"]
    spans: list[AlertSpan] = got["spans"]
    by_status = {r.name for r in got["rules"] if isinstance(r.when, Status)}
    rows = [
        AlertRow(
            s.alert,
            s.first_start,
            window_href(info.name, s.alert),
            _row_name(s.alert),
            s.alert.rule in by_status,
        )
        for s in spans[:MAX_ROWS]
    ]
    precision = [Precision(name, tp, fp) for name, (tp, fp) in got["precision"].items()]
    filters = {"status": chosen_status, "severity": chosen_severity, "rule": chosen_rule}
    keep = {k: v for k, v in filters.items() if v}
    back = urlencode({**timerange.query(), **keep})
    return page(
        request,
        "alerts.html.j2",
        viewer=viewer,
        title=f"Alerts · {info.name}",
        model=info,
        tab="alerts",
        timerange=timerange,
        keep=keep,
        rows=rows,
        more=len(spans) > MAX_ROWS,
        timeline=timeline_chart(
            rows, now=got["latest"], since=timerange.since, until=timerange.until
        ),
        precision=precision,
        silences=got["silences"],
        now=got["now"],
        rules=sorted(
            {r.name for r in got["rules"]}
            | {p.rule for p in precision}
            | ({chosen_rule} if chosen_rule else set())
        ),
        filters=filters,
        statuses=STATUSES,
        severities=SEVERITIES,
        durations=DURATIONS,
        back=back,
        done=DONE.get(done or ""),
        may_write=viewer.may("write"),
        max_note=MAX_NOTE,
    )


# -- the buttons -----------------------------------------------------------------------------


def _back(model: str, form: dict[str, str], done: str) -> RedirectResponse:
    """Back to the alerts page with the range and filters it had, and what was done."""
    kept = {
        k: v[:200] for k, v in parse_qsl(form.get("back", ""), keep_blank_values=False) if k in KEPT
    }
    kept["done"] = done
    return RedirectResponse(href("/models", model, "alerts") + "?" + urlencode(kept), 303)


async def _writer_form(request: Request) -> tuple[Viewer, dict[str, str]]:
    """The viewer of a button (with `write`) and its form, refused unless its CSRF token is
    theirs and no browser says it came from another site."""
    viewer = page_viewer(request, "write")
    form = await read_form(request)
    check_form(request, viewer, form.get("csrf"))
    return viewer, form


def _alert_of(state: AppState, model: str, alert_id: str) -> tuple[ModelInfo, str]:
    info = page_model(state, model)
    if ID.fullmatch(alert_id) is None:
        raise PageError(404, f"There is no alert {alert_id[:40]!r}: alert ids are 32 hex digits.")
    found = state.store.get_alert(alert_id.lower())
    if found is None or found.model != info.name:
        raise PageError(404, f"Model {info.name!r} has no alert {alert_id[:40]!r}.")
    return info, found.id


@router.post("/models/{model}/alerts/{alert_id}/ack")
async def acknowledge(model: str, alert_id: str, request: Request) -> RedirectResponse:
    viewer, form = await _writer_form(request)
    state = state_of(request)

    def act() -> None:
        _, found = _alert_of(state, model, alert_id)
        state.store.ack_alert(found, actor=viewer.name, at=utcnow())

    await run_in_threadpool(act)
    return _back(model, form, "acknowledged")


@router.post("/models/{model}/alerts/{alert_id}/verdict")
async def verdict(model: str, alert_id: str, request: Request) -> RedirectResponse:
    viewer, form = await _writer_form(request)
    state = state_of(request)
    chosen = VERDICTS.get(form.get("verdict", ""))
    if chosen is None:
        raise PageError(422, "verdict: choose true_positive or false_positive.")
    note = form.get("note", "").strip()
    if len(note) > MAX_NOTE:
        raise PageError(422, f"The note is {len(note):,} characters; at most {MAX_NOTE:,}.")

    def act() -> None:
        _, found = _alert_of(state, model, alert_id)
        state.store.mark_alert(found, chosen, actor=viewer.name, note=note or None, at=utcnow())

    await run_in_threadpool(act)
    return _back(model, form, chosen)


@router.post("/models/{model}/silences")
async def silence(model: str, request: Request) -> RedirectResponse:
    viewer, form = await _writer_form(request)
    state = state_of(request)
    info = await run_in_threadpool(page_model, state, model)
    matchers = {
        key: form[key].strip()
        for key in ("rule", "model", "version", "column", "segment")
        if form.get(key, "").strip()
    }
    comment = form.get("comment", "").strip()
    if len(comment) > MAX_NOTE:
        raise PageError(422, f"The comment is {len(comment):,} characters; at most {MAX_NOTE:,}.")
    duration = form.get("duration", "")
    if not duration:
        raise PageError(422, f"duration: choose how long the silence lasts, e.g. {DURATIONS[1]}.")
    now = utcnow()
    try:
        made = make_silence(
            matchers,
            starts=now,
            ends=silence_end(now, duration),
            now=now,
            actor=viewer.name,
            comment=comment,
        )
    except ValueError as err:
        raise PageError(422, f"The silence cannot be made: {err}") from None
    await run_in_threadpool(state.store.add_silence, made)
    return _back(info.name, form, "silenced")


@router.post("/models/{model}/silences/{silence_id}/delete")
async def delete_silence(model: str, silence_id: str, request: Request) -> RedirectResponse:
    _, form = await _writer_form(request)
    state = state_of(request)
    info = await run_in_threadpool(page_model, state, model)
    if ID.fullmatch(silence_id) is None or not await run_in_threadpool(
        state.store.delete_silence, silence_id.lower()
    ):
        raise PageError(404, f"There is no silence {silence_id[:40]!r} (it may have ended).")
    return _back(info.name, form, "unsilenced")
