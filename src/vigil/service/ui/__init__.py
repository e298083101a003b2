"""The web dashboard `vigil serve` shows at `/` (docs/dashboard.md): pages rendered on the
server from the store, charts drawn in the browser by Apache ECharts, which `scripts/setup`
installs from npm into `static/vendor/`; every asset is served by vigil itself.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from vigil.service.state import state_of
from vigil.service.ui.render import STATIC, PageError, page, static_dir
from vigil.service.ui.session import Forbidden, SignInNeeded, Viewer, viewer_of
from vigil.service.ui.views import (
    alerts,
    drift,
    fairness,
    feature,
    models,
    overview,
    performance,
    signin,
    windows,
)

PAGES = (
    signin.router,
    models.router,
    overview.router,
    performance.router,
    fairness.router,
    drift.router,
    feature.router,
    alerts.router,
    windows.router,
)


def _viewer_or_nobody(request: Request) -> Viewer:
    state = state_of(request)
    try:
        return viewer_of(request, state.auth, state.ui_secret)
    except SignInNeeded:
        return signin.NOBODY


def add_dashboard(app: FastAPI) -> None:
    """Serve the dashboard's pages and assets on `app`."""
    app.mount(STATIC, StaticFiles(directory=static_dir()), name="dashboard-static")
    for router in PAGES:
        app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, err: SignInNeeded) -> Response:
        state_of(request).counters.refused.labels("401", "auth").inc()
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET":
            return RedirectResponse("/signin?" + urlencode({"next": here}), status_code=303)
        return signin.signin_page(request, next_url=here, message=err.reason, status=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, err: Forbidden) -> HTMLResponse:
        state_of(request).counters.refused.labels("403", "auth").inc()
        return _error_page(request, 403, "Not allowed", err.message)

    @app.exception_handler(PageError)
    async def page_error(request: Request, err: PageError) -> HTMLResponse:
        state_of(request).counters.refused.labels(str(err.status), "page").inc()
        heading = "Not found" if err.status == 404 else "This page cannot be shown"
        return _error_page(request, err.status, heading, err.message)


def _error_page(request: Request, status: int, heading: str, message: str) -> HTMLResponse:
    return page(
        request,
        "error.html.j2",
        viewer=_viewer_or_nobody(request),
        title=heading,
        status=status,
        heading=heading,
        message=message,
    )
