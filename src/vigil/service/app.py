"""The FastAPI application: `create_app(settings)` builds one, with its own store, writer,
scheduler and metrics registry (nothing global, nothing at import time).

The API documentation pages (/docs, /redoc) load their scripts and styles from vigil itself,
from the files the `fastapi-offline` package ships, so they work where no CDN can be reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.config import Settings
from vigil.deployment import build_alerting, build_monitor, load_config_models
from vigil.errors import ConflictError, StoreError, VigilError
from vigil.export.prometheus import build_collector
from vigil.monitor.scheduler import SchedulerThread
from vigil.service.auth import Authenticator
from vigil.service.counters import make_counters
from vigil.service.routes import actions, alerts, ingest, models, query, slas
from vigil.service.state import ApiError, AppState, state_of
from vigil.service.ui import add_dashboard
from vigil.service.writer import Writer
from vigil.sources.metrics import SourcesCollector
from vigil.sources.running import Sources
from vigil.store import open_store
from vigil.store.base import Store

log = logging.getLogger("vigil.service")
DOCS_ASSETS = "/docs/assets"  # where the documentation pages' scripts and styles are served


def docs_assets() -> Path:
    """The folder of Swagger UI (5, which reads OpenAPI 3.1) and ReDoc in `fastapi-offline`."""
    return Path(str(files("fastapi_offline") / "static"))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


class Admission:
    """Admit request bodies against `limits.max_inflight_bytes` before they are read.

    A body with a Content-Length is admitted whole or refused with 503 and Retry-After at
    once, none of it read; a chunked body is counted as it streams and refused (503) when it
    would pass the budget. Admitted bytes count until the answer is sent, since the decoded
    body lives that long: peak memory follows the budget, not the number of clients. A body
    beyond `limits.max_body` is left to the route, which refuses it with 413 unread.
    """

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state
        self.in_flight = 0

    def _busy(self, size: int) -> ApiError:
        limits = self.state.settings.limits
        retry = str(limits.retry_after)
        return ApiError(
            503,
            f"{self.in_flight} bytes of request bodies are being processed; {size} more would "
            f"pass limits.max_inflight_bytes ({limits.max_inflight_bytes}); retry after "
            f"{retry} s.",
            reason="busy_bodies",
            headers={"Retry-After": retry},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.state.settings.limits
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                declared = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if declared is not None:
            if declared == 0 or declared > limits.max_body:
                await self.app(scope, receive, send)
                return
            if self.in_flight + declared > limits.max_inflight_bytes:
                err = self._busy(declared)
                self.state.counters.refused.labels("503", err.reason).inc()
                await _error(503, err.message, err.headers)(scope, receive, send)
                return
            self.in_flight += declared
            try:
                await self.app(scope, receive, send)
            finally:
                self.in_flight -= declared
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        counted = 0

        async def counting() -> Message:
            nonlocal counted
            message = await receive()
            size = len(message.get("body", b""))
            if size:
                if self.in_flight + size > limits.max_inflight_bytes:
                    raise self._busy(size)
                counted += size
                self.in_flight += size
            return message

        try:
            await self.app(scope, counting, send)
        finally:
            self.in_flight -= counted


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    scheduler: bool = True,
    load_models: bool = True,
) -> FastAPI:
    """A vigil service app. Opens the store named by settings unless one is given.

    `load_models=False`: the config's models are already registered (`vigil serve` does it
    before it says it serves, so that a bad model file stops it with one line).
    """
    owns_store = store is None
    the_store = store if store is not None else open_store(settings.db)
    monitor = build_monitor(settings, the_store)
    alerting = build_alerting(settings, the_store, monitor)
    counters = make_counters()
    counters.registry.register(build_collector(the_store))
    state = AppState(
        settings=settings,
        store=the_store,
        writer=Writer(the_store, max_pending=settings.limits.max_pending_records),
        monitor=monitor,
        alerting=alerting,
        actions=alerting.actions,
        auth=Authenticator(settings.tokens),
        counters=counters,
        owns_store=owns_store,
    )
    sources = Sources(
        settings.sources,
        state.writer,
        the_store,
        max_message=settings.limits.max_body,
        max_extra_columns=settings.limits.max_extra_columns,
        time_rules=state.time_rules,
        window_seconds=lambda name: monitor.plan_for(name).size_seconds,
    )
    if sources.consumers:
        counters.registry.register(SourcesCollector(sources.consumers))
    # the gauge follows the queue (not only at scrape time): under --workers a scrape reads
    # every worker's last value
    state.writer.on_pending = counters.pending.set

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load_models:
            await run_in_threadpool(load_config_models, settings, the_store, monitor)
        state.writer.start()
        alerting.outbox.start()
        if scheduler:
            state.scheduler = SchedulerThread(
                monitor, settings.interval, evaluate_after=settings.alerts.evaluate_after
            )
            state.writer.on_commit = state.scheduler.nudge
            state.scheduler.start()
        sources.start()  # after the writer: a consumer acks only what the writer stored
        try:
            yield
        finally:
            sources.stop()  # before the writer, which stores what the consumers still hold
            if state.scheduler is not None:
                state.scheduler.stop()
            state.writer.stop()
            alerting.outbox.stop()
            if state.owns_store:
                state.store.close()

    app = FastAPI(
        title="vigil",
        summary="Watch machine-learning models in production.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served below, without a CDN
        redoc_url=None,
    )
    app.state.vigil = state
    app.state.sources = sources
    app.add_middleware(Admission, state=state)
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="vigil API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # no badge fetched from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="vigil API",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.include_router(models.router, tags=["models"])
    app.include_router(ingest.router, tags=["ingest"])
    app.include_router(query.router, tags=["query"])
    app.include_router(slas.router, tags=["alerts"])
    app.include_router(alerts.router, tags=["alerts"])
    app.include_router(actions.router, tags=["actions"])
    add_dashboard(app)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        state.counters.refused.labels(str(err.status), err.reason).inc()
        return _error(err.status, err.message, err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        state.counters.refused.labels("422", "bad_query").inc()
        parts = []
        for e in err.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg')}")
        return _error(422, "; ".join(parts) or "the request is malformed.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        state.counters.refused.labels(str(err.status_code), "http").inc()
        message = str(err.detail)
        if err.status_code == 404:
            message = f"no route {request.url.path}; see /docs or /openapi.json."
        elif err.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        return _error(err.status_code, message, dict(err.headers or {}))

    @app.exception_handler(VigilError)
    async def vigil_error(request: Request, err: VigilError) -> JSONResponse:
        state.counters.refused.labels("422", "invalid").inc()
        return _error(422, str(err))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, err: ConflictError) -> JSONResponse:
        state.counters.refused.labels("409", "conflict").inc()
        return _error(409, str(err))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, err: StoreError) -> JSONResponse:
        log.error("store failure on %s %s: %s", request.method, request.url.path, err)
        state.counters.refused.labels("503", "store").inc()
        retry = str(settings.limits.retry_after)
        return _error(
            503, f"the store failed: {err}; retry after {retry} s.", {"Retry-After": retry}
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        state.counters.refused.labels("500", "internal").inc()
        return _error(
            500,
            f"vigil failed on this request ({type(err).__name__}); nothing of it "
            "was stored unless the answer said so. The server log has the details.",
        )

    @app.middleware("http")
    async def timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        state.counters.latency.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=True, tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus exposition: the latest windows' values and the service's counters."""
        state_of(request).authorize(request, "read")
        body = await run_in_threadpool(generate_latest, state.counters.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        """The store answers and the writer and scheduler run; also how many windows failed.

        Failed windows do not make the service unready: taking it out of a load balancer
        would not compute them, and would stop ingest too. /metrics has them per model.
        """
        problems: dict[str, Any] = {}
        stats: dict[str, int] = {}
        try:
            stats = await run_in_threadpool(state.store.stats)
        except Exception as err:  # not ready, and why
            first = (str(err).splitlines() or [""])[0]
            problems["store"] = f"{type(err).__name__}: {first}"
        if not state.writer.is_alive:
            problems["writer"] = "not running"
        if scheduler and state.scheduler is not None and state.scheduler.last_error:
            problems["scheduler"] = state.scheduler.last_error
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "store": state.store.url_for_display,
                "failed_windows": stats.get("failed_windows", 0),
            }
        )

    return app


def run(app: FastAPI, *, host: str, port: int) -> None:
    """Serve the app until SIGINT or SIGTERM, then return (vigil.service.server)."""
    from vigil.service.server import server_for

    settings: Settings = app.state.vigil.settings
    server_for(app, host=host, port=port, limits=settings.limits).run()
