"""Bearer tokens with scopes: `read` (queries, dashboard, /metrics), `write` (ingest) and
`admin` (models and references; it includes the other two).

Tokens are known only by their SHA-256 hash; the presented token is hashed and compared with
every configured hash in constant time, so neither timing nor logs give a token away.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from vigil.config import Scope, Token, hash_token


class AuthError(Exception):
    """A request without the right token; `status` is 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Authenticator:
    """Checks Authorization headers against the configured tokens."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tuple(tokens)

    @property
    def is_open(self) -> bool:
        """True when no tokens are configured (the service then binds to 127.0.0.1 only)."""
        return not self.tokens

    def check(self, header: str | None, scope: Scope) -> str | None:
        """The token's name when it may do `scope`; raises AuthError otherwise."""
        if self.is_open:
            return None
        if not header:
            raise AuthError(
                401, "this endpoint needs a token: send 'Authorization: Bearer <token>'."
            )
        kind, _, presented = header.partition(" ")
        if kind.lower() != "bearer" or not presented.strip():
            raise AuthError(401, "the Authorization header must be 'Bearer <token>'.")
        digest = hash_token(presented.strip())
        found: Token | None = None
        for token in self.tokens:  # no early exit: every hash is compared
            if hmac.compare_digest(token.sha256, digest):
                found = token
        if found is None:
            raise AuthError(401, "the token is not known to this service.")
        if found.revoked:
            raise AuthError(401, f"the token {found.name!r} has been revoked; ask for a new one.")
        if scope not in found.scopes and "admin" not in found.scopes:
            raise AuthError(
                403,
                f"the token {found.name!r} has the scopes {', '.join(sorted(found.scopes))}; "
                f"this needs {scope!r}.",
            )
        return found.name
