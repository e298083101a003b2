"""What every route of one app shares, and the small helpers routes use.

Errors leave a route as `ApiError(status, message)`, rendered as
`{"error": {"status": ..., "message": ...}}`: a message a person can act on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from starlette.requests import ClientDisconnect

from vigil.alerts.actions import Actions
from vigil.config import Scope, Settings
from vigil.deployment import Alerting
from vigil.errors import SpecError
from vigil.ingest.layout import Layout, layout_for
from vigil.ingest.validate import TimeRules
from vigil.monitor.scheduler import Monitor, SchedulerThread
from vigil.service.auth import Authenticator, AuthError
from vigil.service.counters import ServiceCounters
from vigil.service.writer import Writer
from vigil.spec import Spec, spec_from_dict
from vigil.store.base import ModelInfo, Store, utcnow


class ApiError(Exception):
    """An answer other than success: status, message, and headers such as Retry-After."""

    def __init__(
        self, status: int, message: str, *, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason  # a fixed word for the refused-requests counter
        self.headers = headers or {}


@dataclass(slots=True)
class AppState:
    """The service's parts, built by `create_app`."""

    settings: Settings
    store: Store
    writer: Writer
    monitor: Monitor
    alerting: Alerting
    auth: Authenticator
    counters: ServiceCounters
    scheduler: SchedulerThread | None = None
    actions: Actions | None = None  # retrain, rollback, promote (vigil.alerts.actions)
    owns_store: bool = False
    # keys the dashboard's form tokens on a service without tokens (vigil.service.ui.session)
    ui_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _layouts: dict[tuple[int, str], tuple[Spec, Layout]] = field(default_factory=dict)

    def model(self, name: str) -> ModelInfo:
        """A registered model, or 404 listing what is registered."""
        # a name with NUL cannot be registered, and PostgreSQL refuses to even look it up
        model = None if "\x00" in name else self.store.get_model(name)
        if model is None:
            names = [m.name for m in self.store.list_models()]
            listed = ", ".join(names[:20]) if names else "none yet; POST /v1/models first"
            raise ApiError(404, f"no model {name!r}; registered: {listed}.", reason="unknown_model")
        return model

    def layout(self, model: ModelInfo, version: str) -> tuple[Spec, Layout]:
        """The spec and ingest layout of a model version (cached)."""
        key = (model.id, version)
        cached = self._layouts.get(key)
        if cached is None:
            try:
                spec = spec_from_dict(model.specs[version], source=f"model {model.name}")
            except SpecError as err:
                raise ApiError(409, str(err), reason="bad_spec") from err
            cached = (spec, layout_for(spec))
            self._layouts[key] = cached
        return cached

    def time_rules(self) -> TimeRules:
        """The clock limits for records arriving now."""
        limits = self.settings.limits
        return TimeRules(
            now=utcnow(),
            lateness=timedelta(seconds=limits.lateness),
            max_future=timedelta(seconds=limits.max_future),
        )

    def authorize(self, request: Request, scope: Scope) -> str | None:
        """Refuse the request (401/403) unless its token may do `scope`; the token's name
        (recorded as who acted), None when the service has no tokens."""
        try:
            return self.auth.check(request.headers.get("authorization"), scope)
        except AuthError as err:
            headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
            raise ApiError(err.status, err.message, reason="auth", headers=headers) from err


def state_of(request: Request) -> AppState:
    """The AppState of the app serving a request."""
    state: AppState = request.app.state.vigil
    return state


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    too_big = ApiError(
        413,
        f"the body is larger than the limit of {limit} bytes; send smaller batches "
        f"(or raise limits.max_body).",
        reason="body_too_large",
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or cut off by limits.body_timeout: no one hears this
        raise ApiError(
            408, "the connection closed before the body arrived.", reason="body_incomplete"
        ) from None
    return b"".join(chunks)
