"""The windows pages: a model's windows in the range (where each stands), one window (its full
report, the page `vigil report` writes, and the records rejected while it was open), and the
quarantine of rejected records in the range.

The report is the HTML page of `vigil.report.html`, rendered from the JSON the store keeps
(`vigil.report.json.read_report`). It carries its own inline style, so it is served at
`.../report.html` with a policy of its own (no script at all, inline style, framed by this
service only) and shown on the window page in a sandboxed frame; the dashboard's pages keep
their strict policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from vigil.ingest.validate import iso_time
from vigil.report.html import render_html
from vigil.report.json import read_report
from vigil.service.state import AppState, state_of
from vigil.service.ui.render import CSP, PageError, href, page, page_model
from vigil.service.ui.session import page_viewer
from vigil.service.ui.timerange import model_range
from vigil.store.base import ModelInfo, WindowKey, WindowKind, WindowState
from vigil.store.dashboard import QuarantineRecord

router = APIRouter(include_in_schema=False)
MAX_WINDOWS = 1000  # rows of the windows list; a narrower range shows the rest
MAX_RECORDS = 200  # rejected records on a page
KINDS: tuple[WindowKind, ...] = ("tumbling", "rolling")
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "form-action 'none'; base-uri 'none'"
)
REPORT_HEADERS = {
    "Content-Security-Policy": REPORT_CSP,
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class WindowRow:
    """One window as the list and the window page show it."""

    key: WindowKey  # the time it covers (the rolling window: up to when it was last due)
    state: str  # computed | due | failed | waiting (never computed yet)
    status: str  # the worst status of its whole-window points; none before any
    window: WindowState
    href: str


def window_page_href(model: str, key: WindowKey, stored_start: datetime) -> str:
    """A window's page (the rolling window by the start it is stored under)."""
    return href("/models", model, "windows", key.version, key.kind, stored_start.isoformat() + "Z")


def window_row(state: AppState, model: ModelInfo, w: WindowState, status: str) -> WindowRow:
    """A stored window with where it stands."""
    if w.is_failed:
        where = "failed"
    elif w.is_dirty:
        where = "due" if w.computed_generation > 0 else "waiting"
    else:
        where = "computed"
    span = state.monitor.span(model.name, w.key)
    return WindowRow(span, where, status, w, window_page_href(model.name, w.key, w.key.start))


def _version(model: ModelInfo, version: str | None) -> str | None:
    if not version:
        return None
    if version not in model.specs:
        known = ", ".join(sorted(model.specs)[:20])
        raise PageError(
            404, f"Model {model.name!r} has no version {version[:40]!r}; it has {known}."
        )
    return version


def _shown(state: AppState, model: ModelInfo, w: WindowState) -> bool:
    # with `rolling: off` the rolling window is kept but never computed: not shown
    return (
        w.key.kind == "tumbling" or state.monitor.plan_for(model.name).rolling_seconds is not None
    )


@router.get("/models/{model}/windows", response_class=HTMLResponse)
async def windows_page(
    model: str,
    request: Request,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    step: str | None = None,
    version: str | None = None,
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> dict[str, Any]:
        info = page_model(state, model)
        chosen = _version(info, version)
        timerange = model_range(
            state, info, last=last, since=since, until=until, step=step, version=chosen
        )
        found = state.store.read_windows(
            info,
            version=chosen,
            kind=None,
            failed=False,
            since=timerange.since,
            until=timerange.until,
            limit=MAX_WINDOWS + 1,
        )
        statuses = state.store.window_statuses(info, since=timerange.since, until=timerange.until)
        rows = [
            window_row(state, info, w, statuses.get((w.key.version, w.key.start), "none"))
            for w in found[:MAX_WINDOWS]
            if _shown(state, info, w)
        ]
        return {"info": info, "version": chosen, "timerange": timerange, "rows": rows,
                "more": len(found) > MAX_WINDOWS}  # fmt: skip

    got = await run_in_threadpool(read)
    info = got["info"]
    return page(
        request,
        "windows.html.j2",
        viewer=viewer,
        title=f"Windows · {info.name}",
        model=info,
        tab="windows",
        timerange=got["timerange"],
        keep={"version": got["version"]} if got["version"] else {},
        rows=got["rows"],
        more=got["more"],
        version=got["version"],
        versions=sorted(info.specs),
        failed=sum(1 for r in got["rows"] if r.state == "failed"),
    )


def _start(value: str) -> datetime:
    try:
        moment = iso_time(value)
    except (ValueError, OverflowError):
        raise PageError(
            422, f"{value[:40]!r} is not a window start; write e.g. 2026-11-23T06:00:00Z."
        ) from None
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
    return moment


@dataclass(frozen=True, slots=True)
class FoundWindow:
    model: ModelInfo
    row: WindowRow
    report: str | None  # the report JSON; None when the window was too small or not computed


def find_window(state: AppState, model: str, version: str, kind: str, start: str) -> FoundWindow:
    """The window a page's path names, or a 404/422 page."""
    info = page_model(state, model)
    chosen = _version(info, version)
    assert chosen is not None  # a path parameter is never empty
    if kind not in KINDS:
        raise PageError(404, f"There is no {kind[:20]!r} window; windows are tumbling or rolling.")
    window_kind: WindowKind = kind
    moment = _start(start)
    if window_kind == "rolling":
        found = state.store.read_windows(
            info, version=chosen, kind="rolling", failed=False, since=None, until=None, limit=1
        )
    else:
        found = state.store.read_windows(
            info,
            version=chosen,
            kind="tumbling",
            failed=False,
            since=moment,
            until=moment + timedelta(microseconds=1),
            limit=1,
        )
    if not found or (window_kind == "tumbling" and found[0].key.start != moment):
        raise PageError(
            404,
            f"Model {info.name!r} has no {kind} window of version {chosen!r} starting at "
            f"{start[:40]}; the Windows tab lists them.",
        )
    w = found[0]
    statuses = state.store.window_statuses(
        info, since=w.key.start, until=w.key.start + timedelta(microseconds=1)
    )
    row = window_row(state, info, w, statuses.get((w.key.version, w.key.start), "none"))
    stored = state.store.window_report(info, chosen, window_kind, w.key.start)
    return FoundWindow(info, row, None if stored is None else stored[1])


@router.get("/models/{model}/windows/{version}/{kind}/{start}", response_class=HTMLResponse)
async def window_page(
    model: str, version: str, kind: str, start: str, request: Request
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> tuple[FoundWindow, list[QuarantineRecord]]:
        found = find_window(state, model, version, kind, start)
        key = found.row.key
        rejected = state.store.quarantine_between(
            found.model, since=key.start, until=key.end, limit=MAX_RECORDS
        )
        return found, rejected

    found, rejected = await run_in_threadpool(read)
    key = found.row.key
    response = page(
        request,
        "window.html.j2",
        viewer=viewer,
        title=f"Window {key.start:%Y-%m-%d %H:%M} · {found.model.name}",
        model=found.model,
        tab="windows",
        row=found.row,
        has_report=found.report is not None,
        report_href=request.url.path + "/report.html",
        rejected=rejected,
        max_records=MAX_RECORDS,
        quarantine_href=href(
            "/models",
            found.model.name,
            "quarantine",
            since=key.start.isoformat() + "Z",
            until=key.end.isoformat() + "Z",
        ),
    )
    # the page's own policy, but for the report's frame: this service's pages only
    response.headers["Content-Security-Policy"] = CSP + "; frame-src 'self'"
    return response


@router.get("/models/{model}/windows/{version}/{kind}/{start}/report.html")
async def window_report_page(
    model: str, version: str, kind: str, start: str, request: Request
) -> HTMLResponse:
    page_viewer(request)
    state = state_of(request)
    found = await run_in_threadpool(find_window, state, model, version, kind, start)
    if found.report is None:
        raise PageError(
            404,
            f"The window has no report: it is {found.row.state}"
            + (", or held too few rows to judge." if found.row.state == "computed" else "."),
        )
    stored = found.report
    try:
        html = await run_in_threadpool(lambda: render_html(read_report(stored)))
    except ValueError as err:
        raise PageError(409, f"The stored report cannot be shown: {err}") from None
    return HTMLResponse(html, headers=REPORT_HEADERS)


@router.get("/models/{model}/quarantine", response_class=HTMLResponse)
async def quarantine_page(
    model: str,
    request: Request,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    step: str | None = None,
) -> HTMLResponse:
    viewer = page_viewer(request)
    state = state_of(request)

    def read() -> dict[str, Any]:
        info = page_model(state, model)
        newest = state.store.read_quarantine(info, limit=1, since=None)
        # records are rejected on the service's clock: the range reaches the latest one
        received = _start(str(newest[0]["received"])) if newest else None
        timerange = model_range(
            state, info, last=last, since=since, until=until, step=step, latest_end=received
        )
        records = state.store.quarantine_between(
            info,
            since=timerange.since or datetime(1970, 1, 1),
            until=timerange.until or datetime(9999, 1, 1),
            limit=MAX_RECORDS + 1,
        )
        return {"info": info, "timerange": timerange, "records": records}

    got = await run_in_threadpool(read)
    info = got["info"]
    records: list[QuarantineRecord] = got["records"]
    return page(
        request,
        "quarantine.html.j2",
        viewer=viewer,
        title=f"Quarantine · {info.name}",
        model=info,
        tab="windows",
        timerange=got["timerange"],
        records=records[:MAX_RECORDS],
        more=len(records) > MAX_RECORDS,
    )
