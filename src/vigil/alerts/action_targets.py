"""What an action calls: a webhook (a signed JSON POST, or an Airflow DAG run) or a command (argv,
no shell, the JSON on its standard input), and the decision as they receive it."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
import orjson

from vigil.store.base import ActionRecord


@dataclass(frozen=True, slots=True)
class HookTarget:
    """POST the decision as JSON (`body: airflow` wraps it as an Airflow DAG run's `conf`)."""

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    body: Literal["vigil", "airflow"] = "vigil"


@dataclass(frozen=True, slots=True)
class CommandTarget:
    """Run a program (argv, no shell) with the decision as JSON on its standard input."""

    argv: tuple[str, ...]
    timeout: float = 60.0


Target = HookTarget | CommandTarget


def decision_json(record: ActionRecord, actor: str | None = None) -> dict[str, Any]:
    """A decision as the webhook, the command, the API and the CLI see it."""
    return {
        "id": record.id,
        "model": record.model,
        "kind": record.kind,
        "trigger": record.trigger,
        "taken": record.taken,
        "reason": record.reason,
        "evidence": loads(record.evidence),
        "decided_at": iso(record.decided_at),
        "outcome": record.outcome,
        **({"actor": actor} if actor is not None else {}),
    }


def call(target: Target, decision: dict[str, Any]) -> str:
    """Call a webhook or run a command with the decision: "sent", or why it failed (never
    the URL, a header or the secret)."""
    payload = {
        k: decision[k]
        for k in ("id", "model", "kind", "trigger", "reason", "evidence", "decided_at")
    }
    if "actor" in decision:
        payload["actor"] = decision["actor"]
    if isinstance(target, CommandTarget):
        return _run(target, orjson.dumps(payload))
    if target.body == "airflow":  # POST /api/v1/dags/{dag_id}/dagRuns takes these two keys
        body = orjson.dumps(
            {"dag_run_id": f"vigil-{payload['kind']}-{payload['id']}", "conf": payload}
        )
    else:
        body = orjson.dumps(payload)
    headers = {**target.headers, "content-type": "application/json"}
    if target.secret:  # as vigil.alerts.notify.Webhook signs a notice
        stamp = str(int(time.time()))
        digest = hmac.new(target.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        headers["x-vigil-timestamp"] = stamp
        headers["x-vigil-signature"] = f"sha256={digest.hexdigest()}"
    try:
        with httpx.Client(follow_redirects=False, timeout=target.timeout) as client:
            answer = client.post(target.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return f"the webhook did not answer within {format_duration(int(target.timeout))}"
    except httpx.HTTPError as err:
        return f"the webhook could not be reached ({type(err).__name__})"
    if 200 <= answer.status_code < 300:
        return "sent"
    what = "a redirect, not followed" if 300 <= answer.status_code < 400 else "refused"
    return f"the webhook answered HTTP {answer.status_code} ({what})"


def _run(target: CommandTarget, body: bytes) -> str:
    try:
        done = subprocess.run(
            list(target.argv),
            input=body,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=target.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return (
            f"the command {target.argv[0]!r} did not finish within "
            f"{format_duration(int(target.timeout))} and was killed"
        )
    except OSError as err:
        return f"the command {target.argv[0]!r} could not start ({type(err).__name__})"
    if done.returncode != 0:
        return f"the command {target.argv[0]!r} exited with {done.returncode}"
    return "sent"


def format_duration(seconds: int) -> str:
    """`86400` as `1d`, `5400` as `90m`: the largest unit that divides it."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def iso(moment: datetime) -> str:
    """A naive UTC time as ISO-8601 with a Z."""
    return moment.isoformat() + "Z"


def loads(text: str) -> dict[str, Any]:
    """A record's evidence as a JSON object (text that is not one, wrapped)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
