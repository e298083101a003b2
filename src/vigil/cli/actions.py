"""`vigil retrain`: ask a running service for a retrain through its API (`vigil.cli` parses).

It talks HTTP only, so it imports neither the store nor the web framework.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.markup import escape

from vigil.config import load_settings
from vigil.errors import VigilError


def service_url(args: argparse.Namespace) -> str:
    """--url, else the host and port of --config, else http://127.0.0.1:8000."""
    if args.url:
        return str(args.url).rstrip("/")
    if args.config:
        settings = load_settings(args.config, os.environ)
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{settings.port}"
    return "http://127.0.0.1:8000"


def retrain(args: argparse.Namespace, console: Console) -> int:
    """`vigil retrain MODEL --reason TEXT`: 0 when the retrain was taken and its call went
    out, 1 when the policy skipped it or the call failed."""
    base = service_url(args)
    token = args.token or os.environ.get("VIGIL_TOKEN")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    url = f"{base}/v1/models/{quote(args.model, safe='')}/retrain"
    try:
        answer = httpx.post(url, json={"reason": args.reason}, headers=headers, timeout=120)
    except httpx.HTTPError as err:
        raise VigilError(
            f"could not reach the vigil service at {base} ({type(err).__name__}); is `vigil "
            f"serve` running there? Give its address with --url."
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        raise VigilError(
            f"the service answered HTTP {answer.status_code}: "
            f"{message or answer.text[:200] or 'no reason given'}"
        )
    taken = bool(body.get("taken"))
    outcome = body.get("outcome")
    if taken and outcome == "sent":
        console.print(
            f"retrain of {escape(args.model)} taken and sent (decision {body.get('id')}).",
            highlight=False,
        )
        return 0
    what = f"taken, but the call failed: {outcome}" if taken else "skipped"
    console.print(f"retrain of {escape(args.model)} {escape(what)}", highlight=False)
    console.print(escape(str(body.get("reason", ""))), highlight=False, soft_wrap=True)
    return 1
