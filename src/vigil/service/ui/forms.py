"""Form bodies of the dashboard's buttons: read with a size limit, decoded strictly."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from vigil.service.state import ApiError, read_body
from vigil.service.ui.render import PageError

MAX_FORM = 16 * 1024  # a form here holds a token, a comment, a few names


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (a repeated field keeps its first
    value); PageError 413/415/400 for a body too large, of another type, or not text."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise PageError(415, "this address takes a form (application/x-www-form-urlencoded).")
    try:
        raw = await read_body(request, MAX_FORM)
    except ApiError as err:  # 413, or 408 when the body never came: said as a page
        raise PageError(err.status, err.message) from None
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "the form is not valid UTF-8 text.") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise PageError(400, f"the form field {key[:40]!r} holds a NUL character.")
        out.setdefault(key, value)
    return out
