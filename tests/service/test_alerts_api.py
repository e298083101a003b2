"""The alerts API over real HTTP, on DuckDB and PostgreSQL: alerts seeded through the store's
`save_alerts` (as the engine will), read, acknowledged and marked; rule precision; silences;
the outbox's deliveries; /metrics; and hostile requests, which get a 4xx, never a 5xx."""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import (
    TOKENS,
    Live,
    ThreadServer,
    make_settings,
    records,
    token_settings,
)
from tests.store.conftest import module_postgres_url, postgres_url  # noqa: F401  (fixtures)

from vigil.config import Limits
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app
from vigil.store import SqlStore
from vigil.store.base import AlertEvent, Delivery, StoredAlert, alert_event, utcnow

T0 = datetime(2026, 11, 23, 10)
HOUR = timedelta(hours=1)


def new_id() -> str:
    return uuid.uuid4().hex


def store_of(live: Live) -> SqlStore:
    store: SqlStore = live.app.state.vigil.store
    return store


def alert(model: str, **changes: Any) -> StoredAlert:
    base = StoredAlert(
        id=new_id(),
        model=model,
        rule="psi",
        version="1",
        column="age",
        segment="",
        metric="drift.psi",
        severity="warning",
        status="firing",
        began=T0,
        opened_at=T0,
        changed=T0,
        resolved_at=None,
        breached=1,
        clear=0,
        notified=T0,
        window_kind="tumbling",
        window_start=T0,
        window_end=T0 + HOUR,
        value=0.2,
        threshold=0.1,
        baseline=None,
        message="drift.psi of age is 0.2, at or above 0.1",
        point_status="warning",
    )
    return replace(base, **changes)


def opened(a: StoredAlert) -> AlertEvent:
    return alert_event(a, a.changed, "opened", a.message)


def seed(live: Live, *alerts: StoredAlert, deliveries: tuple[Delivery, ...] = ()) -> None:
    """Save alerts (each with an `opened` event) as the engine would, model by model."""
    store = store_of(live)
    for name in sorted({a.model for a in alerts} | {d.model for d in deliveries}):
        model = store.get_model(name)
        assert model is not None
        mine = [a for a in alerts if a.model == name]
        store.save_alerts(
            model, mine, [opened(a) for a in mine], [d for d in deliveries if d.model == name]
        )


def delivery(a: StoredAlert, **changes: Any) -> Delivery:
    body = '{"model": "credit", "alerts": []}'
    return replace(
        Delivery(new_id(), a.model, "ops-slack", body, (a.id,), T0, "pending"), **changes
    )


@contextlib.contextmanager
def serving(db: str, folder: Path) -> Iterator[Live]:
    """The service in a thread over the store at `db`, no tokens, models credit and fraud."""
    settings = make_settings(
        folder, db=db, limits=Limits(max_body=2**22), windows=WindowPlan(min_rows=10)
    )
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, folder / "vigil.duckdb", app)
        live.setup_model()
        live.setup_model("fraud")
        yield live


@pytest.fixture(params=["duckdb", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """The service over either store, fresh for each test."""
    db = str(tmp_path / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("postgres_url")
    with serving(db, tmp_path) as live:
        yield live


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The service over either store, one for the module: for the hostile requests, which
    must change nothing, and touch only alerts of their own."""
    folder = tmp_path_factory.mktemp("alerts-api")
    db = str(folder / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("module_postgres_url")
    with serving(db, folder) as live:
        yield live


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Live]:
    """The service with tokens (admin, writer, reader), DuckDB, model credit."""
    settings = make_settings(tmp_path, tokens=token_settings())
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        live.setup_model(headers={"authorization": f"Bearer {TOKENS['admin']}"})
        yield live


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [a["id"] for a in answer.json()["alerts"]]


# -- reading alerts ---------------------------------------------------------------------------


def test_alerts_are_listed_newest_change_first_and_filtered(served: Live) -> None:
    c = served.client
    a = alert("credit", changed=T0 + HOUR)
    b = alert("credit", column="income", severity="critical", changed=T0 + 3 * HOUR)
    r = alert("credit", column="city", status="resolved", resolved_at=T0 + 2 * HOUR,
              changed=T0 + 2 * HOUR)  # fmt: skip
    f = alert("fraud", rule="ks", changed=T0 + 4 * HOUR)
    seed(served, a, b, r, f)
    assert _ids(c.get("/v1/alerts")) == [f.id, b.id, r.id, a.id]
    assert _ids(c.get("/v1/alerts", params={"model": "credit"})) == [b.id, r.id, a.id]
    assert _ids(c.get("/v1/models/credit/alerts")) == [b.id, r.id, a.id]
    assert _ids(c.get("/v1/models/fraud/alerts")) == [f.id]
    assert _ids(c.get("/v1/alerts", params={"status": "resolved"})) == [r.id]
    assert _ids(c.get("/v1/models/credit/alerts", params={"status": "firing"})) == [b.id, a.id]
    assert _ids(c.get("/v1/alerts", params={"severity": "critical"})) == [b.id]
    assert _ids(c.get("/v1/alerts", params={"rule": "ks"})) == [f.id]
    since = (T0 + 2 * HOUR).isoformat() + "Z"
    assert _ids(c.get("/v1/alerts", params={"since": since})) == [f.id, b.id, r.id]
    epoch = (T0 + 2 * HOUR).replace(tzinfo=timezone.utc).timestamp()
    assert _ids(c.get("/v1/alerts", params={"since": str(epoch)})) == [f.id, b.id, r.id]
    assert _ids(c.get("/v1/alerts", params={"limit": 1})) == [f.id]
    for path, params in (("/v1/alerts", {"model": "nope"}), ("/v1/models/nope/alerts", {})):
        answer = c.get(path, params=params)
        assert answer.status_code == 404 and "no model 'nope'" in answer.json()["error"]["message"]


def test_one_alert_carries_its_evidence_events_deliveries_and_report_link(served: Live) -> None:
    c = served.client
    assert c.post("/v1/models/credit/predictions", json={"records": records(50)}).status_code == 200
    assert c.post("/v1/models/credit/evaluate").status_code == 200
    (window,) = [w for w in c.get("/v1/models/credit/windows").json()["windows"]
                 if w["kind"] == "tumbling"]  # fmt: skip
    start = _time(window["start"])
    a = alert("credit", window_start=start, window_end=start + HOUR, baseline=0.05)
    failed = delivery(a, status="failed", attempts=3, last_error="HTTP 500 from ops-slack")
    seed(served, a, deliveries=(failed,))
    shown = c.get(f"/v1/alerts/{a.id}").json()
    expected = {
        "id": a.id, "model": "credit", "version": "1", "rule": "psi", "metric": "drift.psi",
        "severity": "warning", "status": "firing", "column": "age", "segment": "",
        "window_kind": "tumbling", "window_start": window["start"],
        "window_end": (start + HOUR).isoformat() + "Z", "value": 0.2, "threshold": 0.1,
        "baseline": 0.05, "point_status": "warning", "message": a.message,
        "began": "2026-11-23T10:00:00Z", "opened_at": "2026-11-23T10:00:00Z",
        "changed": "2026-11-23T10:00:00Z", "resolved_at": None, "acked_at": None,
        "acked_by": None, "verdict": None, "verdict_by": None, "verdict_at": None,
        "verdict_note": None,
    }  # fmt: skip
    assert {k: shown[k] for k in expected} == expected
    assert [e["kind"] for e in shown["events"]] == ["opened"]
    (d,) = shown["deliveries"]
    assert d == {
        "id": failed.id, "model": "credit", "destination": "ops-slack", "status": "failed",
        "attempts": 3, "last_error": "HTTP 500 from ops-slack", "created": "2026-11-23T10:00:00Z",
        "next_at": None, "sent_at": None, "alerts": [a.id],
    }  # fmt: skip
    # the report link serves the window's report: the one the latest window route serves
    report = c.get(shown["report"])
    assert report.status_code == 200, report.text
    latest = c.get("/v1/models/credit/windows/latest")
    assert report.json() == latest.json()
    assert report.headers["x-vigil-window-start"] == window["start"]
    missing = c.get(shown["report"].replace(window["start"], "2001-01-01T00:00:00Z"))
    assert missing.status_code == 404 and "no computed tumbling window" in missing.text
    rolling = c.get(f"/v1/models/credit/windows/1/rolling/{window['start']}/report")
    assert rolling.status_code == 200 and rolling.headers["x-vigil-window-end"]


def test_values_json_cannot_carry_are_null(served: Live) -> None:
    a = alert("credit", value=math.inf, baseline=-math.inf, threshold=1e308)
    seed(served, a)
    shown = served.client.get(f"/v1/alerts/{a.id}")
    assert shown.status_code == 200
    assert (shown.json()["value"], shown.json()["baseline"]) == (None, None)
    assert shown.json()["threshold"] == 1e308


# -- people's acts ------------------------------------------------------------------------------


def test_an_ack_is_kept_once_and_shown_with_its_event(served: Live) -> None:
    c = served.client
    a = alert("credit")
    seed(served, a)
    first = c.post(f"/v1/alerts/{a.id}/ack")
    assert first.status_code == 200 and first.json()["acked_at"] is not None
    assert first.json()["acked_by"] is None  # no tokens: nobody to name
    again = c.post(f"/v1/alerts/{a.id.upper()}/ack")
    assert again.json()["acked_at"] == first.json()["acked_at"]
    events = c.get(f"/v1/alerts/{a.id}").json()["events"]
    assert [e["kind"] for e in events] == ["opened", "acknowledged"]
    missing = c.post(f"/v1/alerts/{new_id()}/ack")
    assert missing.status_code == 404 and "no alert" in missing.json()["error"]["message"]


def test_marks_give_each_rules_precision(served: Live) -> None:
    c = served.client
    alerts = [alert("credit", column=f"c{i}") for i in range(5)]
    alerts += [alert("credit", rule="ks", column="x"), alert("fraud", rule="ks")]
    seed(served, *alerts)
    verdicts = ["true_positive", "true_positive", "false_positive", "true_positive"]
    for a, v in zip(alerts, verdicts, strict=False):
        answer = c.post(f"/v1/alerts/{a.id}/verdict", json={"verdict": v})
        assert answer.status_code == 200 and answer.json()["verdict"] == v
    # a person changes their mind: the last mark counts, both events stay
    changed = c.post(
        f"/v1/alerts/{alerts[0].id}/verdict",
        json={"verdict": "false_positive", "note": "a deploy, not drift"},
    ).json()
    assert (changed["verdict"], changed["verdict_note"]) == (
        "false_positive",
        "a deploy, not drift",
    )
    kinds = [e["kind"] for e in c.get(f"/v1/alerts/{alerts[0].id}").json()["events"]]
    assert kinds == ["opened", "marked", "marked"]
    c.post(f"/v1/alerts/{alerts[5].id}/verdict", json={"verdict": "false_positive"})
    c.post(f"/v1/alerts/{alerts[6].id}/verdict", json={"verdict": "true_positive"})
    marks: dict[str, list[bool]] = {"psi": [False, True, False, True], "ks": [False, True]}
    expected = {
        rule: {
            "true_positive": sum(m),
            "false_positive": len(m) - sum(m),
            "precision": sum(m) / len(m),
        }
        for rule, m in marks.items()
    }
    every = c.get("/v1/alerts/precision").json()
    assert every == {"model": None, "rules": expected}
    credit = c.get("/v1/alerts/precision", params={"model": "credit"}).json()["rules"]
    assert credit["ks"] == {"true_positive": 0, "false_positive": 1, "precision": 0.0}
    assert c.get("/v1/alerts/precision", params={"model": "nope"}).status_code == 404


def test_the_token_that_acts_is_recorded_and_reading_is_not_writing(secured: Live) -> None:
    c = secured.client
    reader = {"authorization": f"Bearer {TOKENS['reader']}"}
    writer = {"authorization": f"Bearer {TOKENS['writer']}"}
    a = alert("credit")
    seed(secured, a)
    assert c.get("/v1/alerts").status_code == 401
    assert c.get("/v1/alerts", headers=reader).status_code == 200
    for method, path, body in (
        ("POST", f"/v1/alerts/{a.id}/ack", None),
        ("POST", f"/v1/alerts/{a.id}/verdict", {"verdict": "true_positive"}),
        ("POST", "/v1/silences", {"matchers": {"rule": "psi"}, "duration": "1h"}),
        ("DELETE", f"/v1/silences/{new_id()}", None),
    ):
        refused = c.request(method, path, json=body, headers=reader)
        assert refused.status_code == 403 and "needs 'write'" in refused.text, path
        assert c.request(method, path, json=body).status_code == 401
    assert c.post(f"/v1/alerts/{a.id}/ack", headers=writer).json()["acked_by"] == "writer"
    marked = c.post(f"/v1/alerts/{a.id}/verdict", json={"verdict": "true_positive"},
                    headers=writer).json()  # fmt: skip
    assert marked["verdict_by"] == "writer"
    events = c.get(f"/v1/alerts/{a.id}", headers=reader).json()["events"]
    assert [(e["kind"], e["actor"]) for e in events] == [
        ("opened", None),
        ("acknowledged", "writer"),
        ("marked", "writer"),
    ]
    made = c.post("/v1/silences", json={"matchers": {"rule": "psi"}, "duration": "1h"},
                  headers=writer)  # fmt: skip
    assert made.status_code == 201 and made.json()["created_by"] == "writer"
    assert c.get("/metrics").status_code == 401


# -- silences -----------------------------------------------------------------------------------


def test_silences_made_listed_by_state_and_deleted(served: Live) -> None:
    c = served.client
    now = utcnow()
    lasting = c.post(
        "/v1/silences",
        json={"matchers": {"rule": "psi-*", "model": "fraud"}, "duration": "2h",
              "comment": "retraining"},
    )  # fmt: skip
    assert lasting.status_code == 201, lasting.text
    silence = lasting.json()
    assert silence["matchers"] == {"rule": "psi-*", "model": "fraud"}
    assert silence["state"] == "active" and silence["comment"] == "retraining"
    span = _time(silence["ends_at"]) - _time(silence["starts_at"])
    assert span == timedelta(hours=2) and abs(_time(silence["starts_at"]) - now) < HOUR
    later = now + timedelta(days=2)
    window = c.post(
        "/v1/silences",
        json={"matchers": {"model": "credit", "segment": "région=北"},
              "starts_at": later.isoformat() + "Z",
              "ends_at": (later + timedelta(hours=4)).isoformat() + "+00:00"},
    )  # fmt: skip
    assert window.status_code == 201, window.text
    assert window.json()["state"] == "scheduled"  # a maintenance window
    assert window.json()["matchers"]["segment"] == "région=北"
    epoch_end = (now + timedelta(hours=1)).replace(tzinfo=timezone.utc).timestamp()
    by_epoch = c.post("/v1/silences", json={"matchers": {"column": "age"}, "ends_at": epoch_end})
    assert by_epoch.status_code == 201, by_epoch.text

    def listed(**params: str) -> set[str]:
        return {s["id"] for s in c.get("/v1/silences", params=params).json()["silences"]}

    ids = {lasting.json()["id"], window.json()["id"], by_epoch.json()["id"]}
    assert listed() == ids
    assert listed(active="true") == ids - {window.json()["id"]}
    assert listed(active="false") == {window.json()["id"]}
    gone = c.delete(f"/v1/silences/{window.json()['id']}")
    assert gone.status_code == 200 and gone.json() == {"deleted": window.json()["id"]}
    assert c.delete(f"/v1/silences/{window.json()['id']}").status_code == 404
    assert listed() == ids - {window.json()["id"]}


SILENCE_MISTAKES: list[tuple[Any, str]] = [
    ({"matchers": {}, "duration": "1h"}, "at least one matcher"),
    ({"matchers": {"host": "a"}, "duration": "1h"}, "unknown matcher 'host'"),
    ({"matchers": {"rule": ""}, "duration": "1h"}, "matcher rule: 1 to 1000 characters"),
    ({"matchers": {"rule": "x" * 1001}, "duration": "1h"}, "1 to 1000 characters"),
    ({"matchers": {"rule": 3}, "duration": "1h"}, "matchers.rule"),
    ({"matchers": ["rule"], "duration": "1h"}, "matchers"),
    ({"matchers": {"rule": "a\u0000b"}, "duration": "1h"}, "NUL character"),
    ({"matchers": {"rule": "a\ud800"}, "duration": "1h"}, "lone surrogate"),
    ({"matchers": {"rule": "psi"}}, "either ends_at or duration"),
    ({"matchers": {"rule": "psi"}, "duration": "1h", "ends_at": "2030-01-01"}, "not both"),
    ({"matchers": {"rule": "psi"}, "duration": "soon"}, "is not a duration"),
    ({"matchers": {"rule": "psi"}, "duration": "400d"}, "at most 365 days"),
    ({"matchers": {"rule": "psi"}, "duration": 3600}, "duration"),
    ({"matchers": {"rule": "psi"}, "ends_at": "2001-01-01T00:00:00Z"}, "must be after starts_at"),
    ({"matchers": {"rule": "psi"}, "starts_at": "2001-01-01", "ends_at": "2001-06-01"},
     "in the past"),
    ({"matchers": {"rule": "psi"}, "ends_at": "tomorrow"}, "ends_at='tomorrow' is not a time"),
    ({"matchers": {"rule": "psi"}, "ends_at": 1e400}, "is not a time"),
    ({"matchers": {"rule": "psi"}, "ends_at": "99999-01-01"}, "is not a time"),
    ({"matchers": {"rule": "psi"}, "ends_at": True}, "ends_at"),
    ({"matchers": {"rule": "psi"}, "starts_at": "2030-01-02", "ends_at": "2030-01-01"},
     "must be after starts_at"),
    ({"matchers": {"rule": "psi"}, "starts_at": "2030-01-01", "ends_at": "2032-01-01"},
     "at most 365 days"),
    ({"matchers": {"rule": "psi"}, "starts_at": "2090-01-01", "duration": "1h"},
     "starts_at: at most 365 days from now"),
    ({"matchers": {"rule": "psi"}, "duration": "1h", "comment": "c" * 1_000_000},
     "comment: String should have at most 10000 characters"),
    ({"matchers": {"rule": "psi"}, "duration": "1h", "comment": None}, "comment"),
    ({"matchers": {"rule": "psi"}, "duration": "1h", "extra": 1}, "extra"),
    ([], "Input should be a valid dictionary"),
    ("silence", "valid dictionary"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "says"), SILENCE_MISTAKES)
def test_a_silence_that_cannot_work_is_a_422_naming_the_field(
    shared: Live, body: Any, says: str
) -> None:
    text = json.dumps(body)  # NUL and lone surrogates as JSON escapes
    answer = shared.client.post(
        "/v1/silences", content=text, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["error"]["message"]
    assert shared.client.get("/v1/silences").json()["silences"] == []


# -- deliveries ---------------------------------------------------------------------------------


def test_every_failed_delivery_is_visible(served: Live) -> None:
    c = served.client
    a, b = alert("credit"), alert("fraud")
    dead = delivery(a, status="failed", attempts=5, last_error="connection refused",
                    created=T0 + HOUR)  # fmt: skip
    sent = delivery(a, status="sent", attempts=1, sent_at=T0, created=T0)
    other = delivery(b, status="failed", attempts=2, last_error="HTTP 410", created=T0 + 2 * HOUR)
    seed(served, a, b, deliveries=(dead, sent, other))
    failed = c.get("/v1/deliveries", params={"status": "failed"}).json()["deliveries"]
    assert [(d["id"], d["last_error"]) for d in failed] == [
        (other.id, "HTTP 410"),
        (dead.id, "connection refused"),
    ]
    for d in failed:
        assert "body" not in d and "http" not in json.dumps(d)  # a name, never an address
    mine = c.get("/v1/deliveries", params={"alert": a.id}).json()["deliveries"]
    assert [d["id"] for d in mine] == [dead.id, sent.id]
    assert c.get("/v1/deliveries", params={"limit": 1}).json()["deliveries"][0]["id"] == other.id
    bad = c.get("/v1/deliveries", params={"alert": "x"})
    assert bad.status_code == 422 and "not an alert id" in bad.text
    assert c.get("/v1/deliveries", params={"status": "lost"}).status_code == 422


# -- /metrics -----------------------------------------------------------------------------------


def _samples(live: Live, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """A gauge's value by its labels' values, scraped from /metrics."""
    out = {}
    for family in text_string_to_metric_families(live.client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                assert set(sample.labels) == set(labels)
                out[tuple(sample.labels[k] for k in labels)] = sample.value
    return out


def test_metrics_count_firing_alerts_per_model_and_severity_and_the_outbox(served: Live) -> None:
    assert _samples(served, "vigil_alerts_firing", "model", "severity") == {
        ("credit", "warning"): 0.0,
        ("credit", "critical"): 0.0,
        ("fraud", "warning"): 0.0,
        ("fraud", "critical"): 0.0,
    }
    a = alert("credit")
    seed(
        served,
        a,
        alert("credit", column="income"),
        alert("credit", column="city", severity="critical"),
        alert("credit", column="pred", status="pending", opened_at=None),
        alert("fraud", status="resolved", resolved_at=T0),
        deliveries=(delivery(a), delivery(a, status="failed"), delivery(a, status="failed")),
    )
    assert _samples(served, "vigil_alerts_firing", "model", "severity") == {
        ("credit", "warning"): 2.0,
        ("credit", "critical"): 1.0,
        ("fraud", "warning"): 0.0,
        ("fraud", "critical"): 0.0,
    }
    assert _samples(served, "vigil_deliveries", "status") == {
        ("pending",): 1.0,
        ("sent",): 0.0,
        ("failed",): 2.0,
    }


# -- hostile requests ---------------------------------------------------------------------------

BAD_IDS = [
    "x",
    "0" * 31,
    "0" * 33,
    "g" * 32,
    "%00" * 32,
    "0" * 31 + "%00",
    "%ED%A0%80" + "0" * 29,
    "%F0%9F%9A%A8" * 8,
    "..%2F..%2Fetc",
    "0" * 100_00,
    "' OR 1=1 --",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_that_cannot_be_ids_are_404_on_every_route(shared: Live, bad: str) -> None:
    c = shared.client
    for method, path, body in (
        ("GET", f"/v1/alerts/{bad}", None),
        ("POST", f"/v1/alerts/{bad}/ack", None),
        ("POST", f"/v1/alerts/{bad}/verdict", {"verdict": "true_positive"}),
        ("DELETE", f"/v1/silences/{bad}", None),
    ):
        answer = c.request(method, path, json=body)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
        assert answer.json()["error"]["status"] == 404


VERDICT_MISTAKES: list[tuple[bytes, int, str]] = [
    (b'{"verdict": "maybe"}', 422, "verdict: Input should be 'true_positive' or 'false_positive'"),
    (b'{"verdict": 1}', 422, "verdict"),
    (b'{"verdict": null}', 422, "verdict"),
    (b"{}", 422, "verdict: Field required"),
    (b'{"verdict": "true_positive", "note": 5}', 422, "note"),
    (b'{"verdict": "true_positive", "note": "a\\u0000b"}', 422, "NUL character"),
    (
        b'{"verdict": "true_positive", "note": "\\udfff"}',
        422,
        "note: Input should be a valid string",
    ),
    (b'{"verdict": "true_positive", "who": "me"}', 422, "who"),
    (b'{"verdict": "true_positive", "verdict": "false_positive"}', 422, "repeats a key"),
    (b'{"verdict": "true_positive"', 422, "must be JSON"),
    (b"\xff\xfe", 422, "must be JSON"),
    (b"", 422, "must be JSON"),
    (b"[" * 100_000 + b"]" * 100_000, 422, "nested too deeply"),
    (b'{"verdict": "true_positive", "note": "' + b"n" * 10_001 + b'"}', 422, "at most 10000"),
    (b'{"note": "' + b"n" * 3_000_000 + b'"}', 413, "larger than the limit"),
]


@pytest.mark.parametrize(("body", "status", "says"), VERDICT_MISTAKES)
def test_a_verdict_body_that_is_wrong_is_a_4xx_saying_why(
    shared: Live, body: bytes, status: int, says: str
) -> None:
    a = alert("credit", segment=f"region={new_id()}")  # one open alert per key: a key of its own
    seed(shared, a)
    answer = shared.client.post(
        f"/v1/alerts/{a.id}/verdict", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text[:300]
    assert says in answer.json()["error"]["message"]
    assert shared.client.get(f"/v1/alerts/{a.id}").json()["verdict"] is None


QUERY_MISTAKES: list[tuple[str, dict[str, str]]] = [
    ("/v1/alerts", {"limit": "0"}),
    ("/v1/alerts", {"limit": "-1"}),
    ("/v1/alerts", {"limit": "10000001"}),
    ("/v1/alerts", {"limit": "9" * 400}),
    ("/v1/alerts", {"limit": "ten"}),
    ("/v1/alerts", {"status": "open"}),
    ("/v1/alerts", {"severity": "info"}),
    ("/v1/alerts", {"since": "yesterday"}),
    ("/v1/alerts", {"since": "1e400"}),
    ("/v1/alerts", {"since": "99999-01-01T00:00:00"}),
    ("/v1/alerts", {"since": "0001-01-01T00:00:00+01:00"}),
    ("/v1/alerts", {"rule": "a\x00b"}),
    ("/v1/alerts", {"rule": "r" * 1001}),
    ("/v1/models/credit/alerts", {"limit": "0"}),
    ("/v1/deliveries", {"limit": "100001"}),
    ("/v1/silences", {"active": "perhaps"}),
    ("/v1/models/credit/windows/1/hourly/2026-01-01/report", {}),
    ("/v1/models/credit/windows/1/tumbling/not-a-time/report", {}),
    ("/v1/models/credit/windows/1/tumbling/1e400/report", {}),
    ("/v1/models/credit/windows/a%00b/tumbling/2026-01-01/report", {}),
]


@pytest.mark.parametrize(("path", "params"), QUERY_MISTAKES)
def test_a_query_out_of_range_is_a_422(shared: Live, path: str, params: dict[str, str]) -> None:
    answer = shared.client.get(path, params=params)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["error"]["status"] == 422


def test_hostile_names_in_filters_find_nothing_and_break_nothing(served: Live) -> None:
    c = served.client
    for rule in ("é" * 1000, "🚨", "' OR 1=1 --", "%", "_", "\\", "\u200b"):
        assert _ids(c.get("/v1/alerts", params={"rule": rule})) == []
    for model in ("a\x00b", "é" * 1000, "../credit"):
        assert c.get("/v1/alerts", params={"model": model}).status_code in (404, 422)
        assert c.get("/v1/alerts/precision", params={"model": model}).status_code in (404, 422)
    assert c.get("/healthz").status_code == 200
