"""GET /v1/models/{model}/slas over real HTTP, on DuckDB and PostgreSQL: a month of stored
`sla.met` points counted independently, a window computed by the service judged against an
SLA, and hostile input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from tests.service.conftest import (
    TOKENS,
    Live,
    ThreadServer,
    make_settings,
    records,
    token_settings,
)
from tests.store.conftest import postgres_url  # noqa: F401  (a fixture)

from vigil.alerts.settings import AlertSettings
from vigil.alerts.sla import parse_slas, sla_points
from vigil.config import Limits
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app
from vigil.store.base import MetricPoint, utcnow

HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 30, 12, 20)
SLAS = parse_slas(
    [
        {
            "name": "checkout",
            "models": ["credit"],
            "target": 0.95,
            "objectives": {"ops.latency_p99_ms": "<= 100", "ops.availability": ">= 0.999"},
        },
        {"name": "busy", "target": 0.5, "objectives": {"ops.count": ">= 10"}},
        {
            "name": "elsewhere",
            "models": ["fraud"],
            "target": 0.9,
            "objectives": {"ops.count": "> 0"},
        },
    ]
)


@pytest.fixture(params=["duckdb", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """The service in a thread over either store with the SLAs above, its clock at NOW."""
    db = str(tmp_path / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("postgres_url")
    settings = make_settings(
        tmp_path,
        db=db,
        limits=Limits(max_body=2**20),
        windows=WindowPlan(min_rows=10),
        alerts=AlertSettings(slas=SLAS),
    )
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        live.setup_model()
        app.state.vigil.monitor.clock = lambda: NOW
        yield live


def _outcome(version: str, hour: int) -> float | None:
    """A fixed pattern of met (1), breached (0) and pending (None) windows."""
    if hour % 17 == 0 or (version == "2" and hour % 5 == 0):
        return 0.0
    return None if hour % 23 == 0 else 1.0


def _store_month(served: Live) -> dict[str, list[tuple[datetime, float | None]]]:
    """31 days of hourly `sla.met` points of `checkout` for versions 1 and 2, plus the open
    window, written through the store's points part; returns what was written."""
    state = served.app.state.vigil
    model = state.store.get_model("credit")
    current = NOW.replace(minute=0)
    written: dict[str, list[tuple[datetime, float | None]]] = {"1": [], "2": []}
    points = []
    for version in written:
        for hour in range(0, 31 * 24 + 1):
            start = current - hour * HOUR
            value = _outcome(version, hour)
            status = {1.0: "ok", 0.0: "critical", None: "pending"}[value]
            points.append(
                MetricPoint(
                    version,
                    "tumbling",
                    "",
                    start,
                    start + HOUR,
                    "sla.met",
                    "checkout",
                    value,
                    status,
                )
            )
            written[version].append((start, value))
    # the objectives of the newest window of version 1 (the open one)
    points.append(
        MetricPoint(
            "1",
            "tumbling",
            "",
            current,
            current + HOUR,
            "sla.objective",
            "checkout:ops.latency_p99_ms",
            180.0,
            "critical",
        )
    )
    state.store.points.insert(model, points)
    return written


def test_the_latest_window_and_the_budgets_match_a_plain_count(served: Live) -> None:
    written = _store_month(served)
    r = served.client.get("/v1/models/credit/slas")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "credit" and body["now"] == "2026-11-30T12:20:00Z"
    # "elsewhere" covers another model
    assert [s["name"] for s in body["slas"]] == ["checkout", "busy"]
    checkout = body["slas"][0]
    assert checkout["target"] == 0.95
    assert checkout["objectives"] == [
        {"metric": "ops.latency_p99_ms", "op": "<=", "level": 100.0},
        {"metric": "ops.availability", "op": ">=", "level": 0.999},
    ]
    latest = {w["version"]: w for w in checkout["latest"]}
    current = NOW.replace(minute=0)
    for version in ("1", "2"):
        assert latest[version]["start"] == current.isoformat() + "Z"
        value = _outcome(version, 0)
        assert latest[version]["met"] is (None if value is None else value == 1.0)
    assert latest["1"]["objectives"] == [
        {"metric": "ops.latency_p99_ms", "value": 180.0, "status": "critical"},
        {"metric": "ops.availability", "value": None, "status": "pending"},
    ]
    for days in (7, 30):
        ended = [
            value
            for version in written
            for start, value in written[version]
            if NOW - timedelta(days=days) < start + HOUR <= NOW
        ]
        met, breached = ended.count(1.0), ended.count(0.0)
        got = checkout["budgets"][f"{days}d"]
        assert (got["met"], got["breached"], got["unknown"]) == (met, breached, ended.count(None))
        assert got["days"] == days
        assert got["met_share"] == pytest.approx(met / (met + breached))
        assert got["allowed"] == pytest.approx(0.05)
        assert got["consumed"] == pytest.approx(breached / (met + breached) / 0.05)
        assert got["remaining"] == pytest.approx(1 - got["consumed"])
    one = served.client.get("/v1/models/credit/slas", params={"version": "2"}).json()
    assert [w["version"] for w in one["slas"][0]["latest"]] == ["2"]
    only_two = [v for s, v in written["2"] if NOW - timedelta(days=7) < s + HOUR <= NOW]
    assert one["slas"][0]["budgets"]["7d"]["breached"] == only_two.count(0.0)
    # nothing stored for "busy": no window, nothing judged
    busy = body["slas"][1]
    assert busy["latest"] == []
    assert busy["budgets"]["7d"] == {
        "days": 7,
        "met": 0,
        "breached": 0,
        "unknown": 0,
        "met_share": None,
        "allowed": 0.5,
        "consumed": None,
        "remaining": None,
    }


def test_a_window_the_service_computed_judged_against_its_slas(served: Live) -> None:
    """Predictions logged over HTTP, the window computed by the service, its stored points
    judged by `sla_points` (as the alert engine is to do) and stored: the route shows the
    window's own figures, as GET /metrics gives them."""
    c = served.client
    # two hours ago by the real clock, which the service checks record times against
    start = utcnow().replace(minute=0, second=0, microsecond=0) - 2 * HOUR
    now = start + 2 * HOUR + timedelta(minutes=20)
    served.app.state.vigil.monitor.clock = lambda: now
    sent = records(60, ts=(start - datetime(1970, 1, 1)).total_seconds() + 60)
    for i, record in enumerate(sent):
        record["latency_ms"] = 50.0 + i  # p99 near 108.4: the latency objective is missed
        if i < 2:
            record["error"] = "timeout"
    r = c.post("/v1/models/credit/predictions", json={"records": sent})
    assert r.status_code == 200, r.text
    r = c.post("/v1/models/credit/evaluate")
    assert r.status_code == 200 and r.json()["computed"], r.text
    state = served.app.state.vigil
    model = state.store.get_model("credit")
    stored = state.store.read_points(
        model,
        metric=None,
        column=None,
        segment="",
        version="1",
        kind="tumbling",
        since=start,
        until=start + HOUR,
        limit=10_000,
    )
    state.store.points.insert(model, sla_points(SLAS, "credit", stored))
    body = c.get("/v1/models/credit/slas").json()
    figures = {
        p["metric"]: p["value"]
        for p in c.get(
            "/v1/models/credit/metrics", params={"kind": "tumbling", "version": "1"}
        ).json()["points"]
    }
    checkout, busy = body["slas"]
    (window,) = checkout["latest"]
    assert window["start"] == start.isoformat() + "Z"
    assert window["end"] == (start + HOUR).isoformat() + "Z"
    assert window["met"] is False and window["status"] == "critical"
    got = {o["metric"]: o for o in window["objectives"]}
    assert got["ops.latency_p99_ms"]["value"] == pytest.approx(figures["ops.latency_p99_ms"])
    assert got["ops.latency_p99_ms"]["status"] == "critical"
    assert got["ops.availability"]["value"] == pytest.approx(1 - 2 / 60)
    assert figures["ops.availability"] == pytest.approx(1 - 2 / 60)
    (count,) = busy["latest"]
    assert count["met"] is True and count["objectives"][0]["value"] == 60
    # the window ended before now: it is in both budgets
    assert checkout["budgets"]["7d"]["breached"] == 1
    assert busy["budgets"]["30d"]["met"] == 1 and busy["budgets"]["30d"]["met_share"] == 1.0


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1/models/credti/slas", 404, "no model 'credti'; registered: credit"),
        ("/v1/models/" + quote("cred\x00it") + "/slas", 404, "no model"),
        ("/v1/models/" + "x" * 5000 + "/slas", 404, "no model"),
        ("/v1/models/" + quote("💥'; DROP TABLE models;--") + "/slas", 404, "no model"),
        ("/v1/models/credit/slas?version=" + quote("1\x00"), 422, "NUL"),
        ("/v1/models/credit/slas?version=" + "v" * 1001, 422, "version"),
        ("/v1/models/credit/slas/extra", 404, "no route"),
        ("/v1/models/../slas", 404, ""),
    ],
)
def test_hostile_input_is_a_clear_4xx(served: Live, path: str, status: int, words: str) -> None:
    r = served.client.get(path)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert served.client.post("/v1/models/credit/slas").status_code == 405


def test_the_route_needs_the_read_scope(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tokens=token_settings(), alerts=AlertSettings(slas=SLAS))
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        Live(url, client, tmp_path / "vigil.duckdb", app).setup_model(headers=admin)
        assert client.get("/v1/models/credit/slas").status_code == 401
        bad = {"Authorization": "Bearer revoked-token"}
        assert client.get("/v1/models/credit/slas", headers=bad).status_code == 401
        writer = {"Authorization": f"Bearer {TOKENS['writer']}"}
        assert client.get("/v1/models/credit/slas", headers=writer).status_code == 403
        reader = {"Authorization": f"Bearer {TOKENS['reader']}"}
        r = client.get("/v1/models/credit/slas", headers=reader)
        assert r.status_code == 200 and [s["name"] for s in r.json()["slas"]] == [
            "checkout",
            "busy",
        ]


def test_no_slas_configured(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        Live(url, client, tmp_path / "vigil.duckdb", app).setup_model()
        r = client.get("/v1/models/credit/slas")
        assert r.status_code == 200 and r.json()["slas"] == []
