"""Who is looking at the dashboard: sign-in with a token, a session cookie, and the token that
protects every form against requests from other sites.

A session cookie names the token and when the session ends, signed with HMAC-SHA256 keyed by
the token's configured hash. So every instance with the same config accepts it (nothing is kept
on the server), and revoking or replacing the token ends its sessions at once. The cookie is
HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends it); it is Secure
when the request came over HTTPS.

A form's CSRF token is an HMAC of the session (or, on a service without tokens, of a secret made
when the process starts) that only a page of this service can read; every state-changing form
sends it back, and a request that a browser marks as coming from another site is refused too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from dataclasses import dataclass
from hashlib import sha256

from fastapi import Request

from vigil.config import Scope, Token, hash_token
from vigil.service.auth import Authenticator, AuthError
from vigil.service.state import state_of

COOKIE = "vigil_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person behind a page request: their token's name and scopes, and the CSRF token
    their forms carry. On a service without tokens, everyone is an unnamed admin."""

    name: str | None
    scopes: frozenset[Scope]
    csrf: str
    is_open: bool

    def may(self, scope: Scope) -> bool:
        """True when this viewer may do `scope` (admin may do everything)."""
        return scope in self.scopes or "admin" in self.scopes


class SignInNeeded(Exception):
    """A page asked for by someone not signed in (or whose session ended)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """A signed-in viewer without the scope, or a form without a valid CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")


def _sign(key: str, message: str) -> str:
    return hmac.new(key.encode("ascii"), message.encode("utf-8"), sha256).hexdigest()


def session_cookie(token: Token, *, now: float | None = None) -> str:
    """The cookie value of a new session for `token`."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    body = f"v1.{_b64(token.name)}.{expires}"
    return f"{body}.{_sign(token.sha256, body)}"


def sign_in(auth: Authenticator, presented: str) -> Token:
    """The configured token matching what someone typed; AuthError when none does."""
    auth.check(f"Bearer {presented.strip()}", "read")  # any scope: read is the least
    digest = hash_token(presented.strip())
    for token in auth.tokens:
        if hmac.compare_digest(token.sha256, digest):
            return token
    raise AuthError(401, "the token is not known to this service.")


def _session_token(auth: Authenticator, cookie: str | None) -> tuple[Token, str]:
    if not cookie:
        raise SignInNeeded("sign in with a token to see this page.")
    parts = cookie.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
        raise SignInNeeded("the session cookie is not one this service made; sign in again.")
    try:
        name = _unb64(parts[1])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SignInNeeded("the session cookie is damaged; sign in again.") from None
    body = ".".join(parts[:3])
    for token in auth.tokens:
        if token.name == name and hmac.compare_digest(_sign(token.sha256, body), parts[3]):
            if token.revoked:
                raise SignInNeeded(f"the token {name!r} has been revoked; sign in with another.")
            if int(parts[2]) < time.time():
                raise SignInNeeded("the session has ended; sign in again.")
            return token, cookie
    raise SignInNeeded("the session is not valid any more (its token changed); sign in again.")


def viewer_of(request: Request, auth: Authenticator, secret: bytes) -> Viewer:
    """The viewer of a page request; SignInNeeded when the service has tokens and the request
    carries no valid session."""
    if auth.is_open:
        csrf = hmac.new(secret, b"csrf|open", sha256).hexdigest()
        return Viewer(None, frozenset({"admin"}), csrf, is_open=True)
    token, cookie = _session_token(auth, request.cookies.get(COOKIE))
    csrf = _sign(token.sha256, f"csrf|{cookie}")
    return Viewer(token.name, token.scopes, csrf, is_open=False)


def page_viewer(request: Request, scope: Scope = "read") -> Viewer:
    """The viewer of a page that needs `scope`: SignInNeeded or Forbidden otherwise."""
    state = state_of(request)
    viewer = viewer_of(request, state.auth, state.ui_secret)
    require(viewer, scope)
    return viewer


def require(viewer: Viewer, scope: Scope) -> None:
    """Raise Forbidden unless the viewer may do `scope`."""
    if not viewer.may(scope):
        raise Forbidden(
            f"the token {viewer.name!r} has the scopes {', '.join(sorted(viewer.scopes))}; "
            f"this needs {scope!r}. Sign in with a token that has it."
        )


def check_form(request: Request, viewer: Viewer, sent: str | None) -> None:
    """Refuse a state-changing form unless it carries this viewer's CSRF token and no browser
    header says it came from another site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(f"a form from another site ({site}) cannot change anything here.")
    origin = request.headers.get("origin")
    if origin is not None:  # "null" too: a sandboxed frame or a cross-site redirect
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            raise Forbidden(f"a form from {origin[:80]!r} cannot change anything on {own!r}.")
    if not sent or not hmac.compare_digest(sent.encode("utf-8"), viewer.csrf.encode("utf-8")):
        raise Forbidden(
            "the form's security token is missing or out of date; reload the page and try again."
        )


def next_path(value: str | None) -> str:
    """Where to go after signing in: a path on this service only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 for ch in value):
        return "/"
    return value
