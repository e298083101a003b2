"""A few hundred generated hostile requests over every route, against a real `vigil serve`
process: no answer >= 500 other than 503 with Retry-After, the process alive afterwards and
still serving, and a valid batch sent after them stored whole. bench/hostile.py sends 10,000+
of the same requests and watches the server's memory."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
from tests.service.conftest import ServeProcess, serve_credit
from tests.service.hostile import Generator, valid_records


def _serve(tmp_path: Path) -> ServeProcess:
    return serve_credit(tmp_path, interval="2s", limits={"max_body": "2MiB"})


def test_generated_hostile_requests_get_no_5xx_and_leave_the_server_serving(
    tmp_path: Path,
) -> None:
    server = _serve(tmp_path)
    bad: list[str] = []
    statuses: dict[int, int] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for request in Generator(seed=7, big_body=3 * 2**20).requests(300):
                r = client.request(
                    request.method, request.path, headers=request.headers, content=request.body
                )
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code >= 500 and not (
                    r.status_code == 503 and r.headers.get("retry-after")
                ):
                    bad.append(f"{request.kind} {request.path[:80]} -> {r.text[:200]}")
            assert server.proc.poll() is None, "the server died"
            good = valid_records(50, random.Random(3), now=time.time())
            r = client.post("/v1/models/credit/predictions", json={"records": good})
            assert r.status_code == 200, r.text
            assert r.json()["accepted"] == 50
            assert client.get("/healthz").status_code == 200
    finally:
        log = server.stop()
    assert not bad, "\n".join(bad[:10])
    # the generator reached validation, not only the front door
    assert statuses.get(200, 0) > 10 and statuses.get(422, 0) > 50, statuses
    assert "Traceback" not in log, log[-3000:]
