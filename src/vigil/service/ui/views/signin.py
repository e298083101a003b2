"""Signing in with a token (a session cookie) and out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vigil.service.auth import AuthError
from vigil.service.state import state_of
from vigil.service.ui.forms import read_form
from vigil.service.ui.render import page
from vigil.service.ui.session import (
    COOKIE,
    SESSION_SECONDS,
    Viewer,
    check_form,
    next_path,
    session_cookie,
    sign_in,
    viewer_of,
)

router = APIRouter(include_in_schema=False)
NOBODY = Viewer(None, frozenset(), "", is_open=False)


def signin_page(request: Request, *, next_url: str, message: str, status: int) -> HTMLResponse:
    """The sign-in form (also the answer to a page asked for without a session)."""
    return page(
        request,
        "signin.html.j2",
        viewer=NOBODY,
        title="Sign in",
        next=next_path(next_url),
        message=message,
        status=status,
    )


@router.get("/signin")
async def signin_form(request: Request, next: str = "/") -> Response:
    state = state_of(request)
    if state.auth.is_open:
        return RedirectResponse(next_path(next), status_code=303)
    return signin_page(request, next_url=next, message="", status=200)


@router.post("/signin")
async def signin(request: Request) -> Response:
    state = state_of(request)
    form = await read_form(request)
    target = next_path(form.get("next"))
    if state.auth.is_open:
        return RedirectResponse(target, status_code=303)
    try:
        token = sign_in(state.auth, form.get("token") or "")
    except AuthError as err:
        state.counters.refused.labels(str(err.status), "auth").inc()
        return signin_page(request, next_url=target, message=err.message, status=err.status)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_cookie(token),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    state = state_of(request)
    form = await read_form(request)
    if not state.auth.is_open:
        check_form(request, viewer_of(request, state.auth, state.ui_secret), form.get("csrf"))
    response = RedirectResponse("/signin" if not state.auth.is_open else "/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
