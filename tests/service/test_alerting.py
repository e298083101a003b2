"""Alerts end to end in a real `vigil serve` process: unshifted traffic stays quiet, a shift in
the open window reaches a webhook receiver on 127.0.0.1 within seconds of the acknowledgement
(the debounced evaluation, not the scheduler's hourly tick), is listed by the API, asks for the
retrain its rule is configured to trigger, and a receiver that fails is retried until it
takes the notice."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
from tests.alerts.receivers import Recorder
from tests.service.conftest import ServeProcess, credit_config, records

RULES = [
    {
        "name": "age-psi",
        "metric": "drift.psi",
        "columns": ["age"],
        "above": {"warning": 0.1, "critical": 0.25},
    }
]


def alerting_config(folder: Path, receiver: Recorder) -> Path:
    return credit_config(
        folder,
        alerts={
            "rules": RULES,
            "allow": ["127.0.0.1"],
            "notify": [{"name": "hook", "webhook": {"url": receiver.url("/hook"), "secret": "k"}}],
            "evaluate_after": "1s",
            "retry": {"first": "1s", "most": "2s"},
            "actions": {
                "retrain": {
                    "webhook": {"url": receiver.url("/retrain")},
                    "on": {"drift": ["age-psi"]},
                }
            },
        },
    )


def wait_for(check, seconds: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_shift_reaches_the_webhook_in_seconds_and_quiet_traffic_does_not(tmp_path: Path) -> None:
    with Recorder() as receiver:
        receiver.answers["/hook"] = (503, {})  # down at first: the outbox must retry
        server = ServeProcess(["--config", str(alerting_config(tmp_path, receiver))])
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.url, timeout=30) as c:
                hour_ago = time.time() - 3600
                quiet = c.post(
                    "/v1/models/credit/predictions",
                    json={"records": records(400, ts=hour_ago, prefix="q")},
                )
                assert quiet.json()["accepted"] == 400
                # the closed window is computed after the nudge: wait for it, then no alert
                assert wait_for(
                    lambda: any(
                        w["computed_at"]
                        for w in c.get("/v1/models/credit/windows").json()["windows"]
                    )
                )
                time.sleep(1.5)
                assert c.get("/v1/alerts").json()["alerts"] == []
                assert receiver.received == []

                sent = c.post(
                    "/v1/models/credit/predictions", json={"records": records(400, shift=25)}
                )
                assert sent.json()["accepted"] == 400
                hook = lambda: [r for r in receiver.received if r.path == "/hook"]  # noqa: E731
                assert wait_for(lambda: len(hook()) >= 1, 60)
                receiver.answers.clear()  # back up: the retry goes through
                assert wait_for(lambda: len(hook()) >= 2, 60)
                # the critical drift alert asked for a retrain, which went out and is recorded
                retrains = [r for r in receiver.received if r.path == "/retrain"]
                assert len(retrains) == 1
                asked = orjson.loads(retrains[0].body)
                assert (asked["model"], asked["kind"], asked["trigger"]) == (
                    "credit",
                    "retrain",
                    "drift",
                )
                (decision,) = c.get("/v1/models/credit/actions").json()["actions"]
                assert decision["taken"] and decision["outcome"] == "sent"
            body = orjson.loads(hook()[-1].body)
            assert body["model"] == "credit"
            opened = {(a["rule"], a["column"], a["event"]) for a in body["alerts"]}
            assert ("age-psi", "age", "opened") in opened
            assert hook()[-1].headers["x-vigil-signature"].startswith("sha256=")
            with httpx.Client(base_url=server.url, timeout=30) as c:
                listed = c.get("/v1/alerts", params={"model": "credit", "status": "firing"}).json()
                rules = {a["rule"] for a in listed["alerts"]}
                assert "age-psi" in rules
                (psi,) = [a for a in listed["alerts"] if a["rule"] == "age-psi"]
                detail = c.get(f"/v1/alerts/{psi['id']}").json()
                assert [d["status"] for d in detail["deliveries"]] == ["sent"]
                assert detail["deliveries"][0]["attempts"] >= 2
        finally:
            server.stop()
