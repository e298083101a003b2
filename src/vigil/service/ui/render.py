"""Pages from templates: one Jinja2 environment (every value escaped), the headers every page
carries, and the errors a page can end in.

Pages are rendered on the server; what a chart draws travels inside the page as JSON in a
`<script type="application/json">` element (Jinja's `tojson` escapes `<`, `>`, `&` and `'`),
which `static/dashboard.js` reads. The Content-Security-Policy lets the page run only scripts
served by vigil itself, so no string stored in vigil can become code.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi.responses import HTMLResponse

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request

    from vigil.service.state import AppState
    from vigil.service.ui.session import Viewer
    from vigil.store.base import ModelInfo

STATIC = "/static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_ORDER = ("critical", "warning", "pending", "ok", "none")


class PageError(Exception):
    """A page that cannot be shown: its status and a sentence for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def static_dir() -> Path:
    """The dashboard's own styles and script, and the charting library setup copied in."""
    return Path(str(files("vigil.service.ui") / "static"))


def has_charts() -> bool:
    """True when the charting library is in place (`scripts/setup` copies it from npm)."""
    return (static_dir() / "vendor" / "echarts.min.js").is_file()


def href(path: str, *parts: str, **query: str | None) -> str:
    """A URL on this service: `path` then each part percent-encoded (a column named `a/b?c`
    stays one segment), then the query parameters that have a value."""
    url = path.rstrip("/") + "".join("/" + quote(p, safe="") for p in parts) if parts else path
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return url + ("?" + urlencode(given) if given else "")


def number(value: float | int | None, digits: int = 3) -> str:
    """A figure for a person: up to `digits` significant digits, thousands grouped."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude == 0:
        return "0"
    return f"{value:.{digits}g}"


def moment(value: datetime | None) -> str:
    """A stored (naive UTC) time as people read it."""
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M") + " UTC"


def worst(statuses: list[str]) -> str:
    """The most severe of some statuses (`none` when there are none)."""
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return "none"


def protected_columns(model: ModelInfo, version: str) -> list[str]:
    """The spec's protected attributes (segment columns with `protected: true`)."""
    columns = model.specs.get(version, {}).get("columns") or {}
    return [
        name for name, c in columns.items() if isinstance(c, dict) and c.get("protected") is True
    ]


def protects(model: ModelInfo) -> bool:
    """True when a version's spec names a protected attribute: the Fairness tab shows then."""
    return any(protected_columns(model, version) for version in model.specs)


@cache
def environment() -> Environment:
    """The templates of `vigil.service.ui` with autoescaping always on."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("vigil.service.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(href=href, number=number, moment=moment, static=STATIC, protects=protects)
    return env


def page(
    request: Request,
    template: str,
    *,
    viewer: Viewer,
    title: str,
    model: ModelInfo | None = None,
    tab: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A rendered page with the headers every page carries. A page with a time range
    passes it as `timerange` (the range bar is shown) and the query parameters it keeps
    besides the range as `keep`."""
    context.setdefault("timerange", None)
    context.setdefault("keep", {})
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            request_query=request.url.query,
            viewer=viewer,
            title=title,
            model=model,
            tab=tab,
            has_charts=has_charts(),
            status=status,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def page_model(state: AppState, name: str) -> ModelInfo:
    """A registered model, or a 404 page listing what is registered."""
    model = None if "\x00" in name else state.store.get_model(name)
    if model is None:
        names = [m.name for m in state.store.list_models()]
        listed = ", ".join(names[:20]) if names else "none yet"
        raise PageError(404, f"There is no model {name!r}. Registered models: {listed}.")
    return model
