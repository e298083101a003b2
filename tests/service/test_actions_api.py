"""The action routes and `vigil retrain` over real HTTP: the decision answered, the records
and the summary read back, the challenger computed on demand, and hostile input refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from tests.alerts.receivers import Recorder, free_port
from tests.service.conftest import SPEC, TOKENS, Live, ThreadServer, make_settings

from vigil.alerts.actions import Actions, parse_actions
from vigil.cli import main
from vigil.service.app import create_app


@pytest.fixture
def hook() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def with_actions(live: Live, data: dict, *, model: bool = True) -> Actions:
    state = live.app.state.vigil
    actions = Actions(state.store, parse_actions(data, ["127.0.0.1"]))
    state.actions = actions
    if model:
        live.setup_model(headers=_admin(live))
    return actions


def _admin(live: Live) -> dict[str, str] | None:
    state = live.app.state.vigil
    return None if state.auth.is_open else {"authorization": f"Bearer {TOKENS['admin']}"}


def test_a_manual_retrain_is_answered_recorded_and_summarised(live: Live, hook: Recorder) -> None:
    with_actions(
        live,
        {
            "retrain": {
                "webhook": {"url": hook.url("/dag")},
                "monthly_budget": 1,
                "schedule": "0 3 * * 1",
            }
        },
    )
    answer = live.client.post("/v1/models/credit/retrain", json={"reason": "new labels"})
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["taken"] and decision["outcome"] == "sent"
    assert decision["trigger"] == "manual" and decision["reason"] == "new labels"
    assert json.loads(hook.received[0].body)["id"] == decision["id"]
    second = live.client.post("/v1/models/credit/retrain", json={"reason": "again"}).json()
    assert not second["taken"] and "1 of 1 retrains this month" in second["reason"]
    listed = live.client.get("/v1/models/credit/actions", params={"kind": "retrain"}).json()
    assert [a["id"] for a in listed["actions"]] == [second["id"], decision["id"]]
    assert live.client.get("/v1/models/credit/actions?kind=rollback").json()["actions"] == []
    summary = live.client.get("/v1/models/credit/retrains").json()
    assert summary["this_month"] == {"scheduled": 0, "drift": 0, "performance": 0, "manual": 1}
    assert summary["last_retrain"]["trigger"] == "manual"
    assert summary["skipped_this_month"] == 1 and summary["monthly_budget"] == 1
    assert summary["next_scheduled"].endswith("T03:00:00Z")


def test_the_challenger_is_computed_on_demand(live: Live) -> None:
    with_actions(
        live,
        {"challenger": {"credit": {"champion": "1", "challenger": "2", "metric": "roc_auc"}}},
    )
    answer = live.client.get("/v1/models/credit/challenger")
    assert answer.status_code == 422 and "no version '2'" in answer.json()["error"]["message"]
    r = live.client.post("/v1/models", json={"name": "credit", "version": "2", "spec": SPEC})
    assert r.status_code == 201, r.text
    result = live.client.get(
        "/v1/models/credit/challenger",
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
    ).json()
    assert result["verdict"] == "not enough pairs" and result["pairs"] == 0
    assert result["since"] == "2026-01-01T00:00:00Z" and result["metric"] == "roc_auc"
    live.client.post("/v1/models", json={"name": "other", "version": "1", "spec": SPEC})
    none = live.client.get("/v1/models/other/challenger")
    assert none.status_code == 404 and "alerts.actions.challenger.other" in none.text


def test_without_actions_the_routes_say_how_to_configure_them(live: Live) -> None:
    live.setup_model()
    for method, path in (
        ("POST", "/v1/models/credit/retrain"),
        ("GET", "/v1/models/credit/actions"),
        ("GET", "/v1/models/credit/retrains"),
        ("GET", "/v1/models/credit/challenger"),
    ):
        answer = live.client.request(method, path, json={"reason": "x"})
        assert answer.status_code == 409, (path, answer.text)
        assert "alerts.actions" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"reason": "a\x00b"}, "NUL"),
        ({"reason": "x" * 1001}, "at most 1000"),
        ({"reason": ""}, "at least 1"),
        ({"reason": 5}, "string"),
        ({"reason": "x", "extra": 1}, "extra"),
        ({}, "reason"),
        ([], "reason"),
        (None, "reason"),
    ],
)
def test_hostile_retrain_bodies_are_422(live: Live, body: object, where: str) -> None:
    with_actions(live, {"retrain": {"command": ["true"]}})
    answer = live.client.post("/v1/models/credit/retrain", json=body)
    assert answer.status_code == 422, answer.text
    assert where.lower() in answer.json()["error"]["message"].lower()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 422),
        (b"\xff\xfe", 422),
        (b'{"reason": "a", "reason": "b"}', 422),
        (b'{"reason": "a\\u0000"}', 422),
        (b"[" * 10_000, 422),
        (b"x" * 100_000, 413),
    ],
)
def test_malformed_retrain_bodies_are_refused(live: Live, raw: bytes, status: int) -> None:
    with_actions(live, {"retrain": {"command": ["true"]}})
    answer = live.client.post(
        "/v1/models/credit/retrain", content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    if status == 413:
        assert "at most 1000 characters" in answer.json()["error"]["message"]
    assert live.client.get("/v1/models/credit/actions").json()["actions"] == []


@pytest.mark.parametrize(
    "query",
    [
        "kind=delete",
        "since=yesterday",
        "limit=0",
        "limit=100001",
        "since=" + "9" * 400,
    ],
)
def test_hostile_action_queries_are_422(live: Live, query: str) -> None:
    with_actions(live, {})
    answer = live.client.get(f"/v1/models/credit/actions?{query}")
    assert answer.status_code == 422, answer.text


def test_hostile_challenger_spans_are_422(live: Live) -> None:
    with_actions(
        live, {"challenger": {"credit": {"champion": "1", "challenger": "2", "metric": "f1"}}}
    )
    for params in ({"since": "2026-02-01", "until": "2026-01-01"}, {"until": "never"}):
        answer = live.client.get("/v1/models/credit/challenger", params=params)
        assert answer.status_code == 422, answer.text


def test_an_unknown_model_is_404(live: Live) -> None:
    with_actions(live, {"retrain": {"command": ["true"]}}, model=False)
    answer = live.client.post("/v1/models/nope%00x/retrain", json={"reason": "x"})
    assert answer.status_code == 404
    assert live.client.get("/v1/models/nope/retrains").status_code == 404


def test_a_retrain_needs_the_write_scope(secured: Live, hook: Recorder) -> None:
    with_actions(secured, {"retrain": {"webhook": {"url": hook.url("/dag")}}})
    url = "/v1/models/credit/retrain"
    assert secured.client.post(url, json={"reason": "x"}).status_code == 401
    reader = {"authorization": f"Bearer {TOKENS['reader']}"}
    assert secured.client.post(url, json={"reason": "x"}, headers=reader).status_code == 403
    assert hook.received == []
    writer = {"authorization": f"Bearer {TOKENS['writer']}"}
    answer = secured.client.post(url, json={"reason": "x"}, headers=writer)
    assert answer.status_code == 200 and answer.json()["actor"] == "writer"
    assert json.loads(hook.received[0].body)["actor"] == "writer"
    read = secured.client.get("/v1/models/credit/actions", headers=reader)
    assert read.status_code == 200 and len(read.json()["actions"]) == 1


def test_vigil_retrain_calls_the_service(
    secured: Live, hook: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    with_actions(secured, {"retrain": {"webhook": {"url": hook.url("/dag")}, "monthly_budget": 1}})
    args = ["retrain", "credit", "--reason", "from the CLI", "--url", secured.url]
    assert main([*args, "--token", TOKENS["writer"]]) == 0
    assert "taken and sent" in capsys.readouterr().out
    assert json.loads(hook.received[0].body)["reason"] == "from the CLI"
    assert main([*args, "--token", TOKENS["writer"]]) == 1  # the budget is spent
    out = capsys.readouterr().out
    assert "skipped" in out and "1 of 1 retrains this month" in out
    assert main([*args, "--token", TOKENS["reader"]]) == 2
    assert "HTTP 403" in capsys.readouterr().err
    gone = ["retrain", "credit", "--reason", "x", "--url", f"http://127.0.0.1:{free_port()}"]
    assert main(gone) == 2
    assert "could not reach the vigil service" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz-actions")
    app = create_app(make_settings(tmp), scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, Path(tmp / "vigil.duckdb"), app)
        with_actions(
            live,
            {
                "retrain": {"command": ["true"], "min_interval": "1h", "schedule": "0 3 * * 1"},
                "challenger": {"credit": {"champion": "1", "challenger": "2", "metric": "f1"}},
            },
        )
        live.client.post("/v1/models", json={"name": "credit", "version": "2", "spec": SPEC})
        yield live


@pytest.mark.parametrize(
    ("operation", "mode"),
    [
        *(
            (operation, mode)
            for operation in (
                "POST /v1/models/{model}/retrain",
                "GET /v1/models/{model}/actions",
                "GET /v1/models/{model}/challenger",
            )
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ),
        ("GET /v1/models/{model}/retrains", GenerationMode.POSITIVE),  # it takes no input
    ],
)
def test_no_action_route_answers_5xx_with_actions_configured(
    fuzzed: Live, operation: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    method, path = operation.split(" ", 1)
    strategy = schema[path][method].as_strategy(mode, path_parameters={"model": "credit"})

    @given(case=strategy)
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzzed.url, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    run()
    assert fuzzed.client.get("/healthz").status_code == 200


def test_vigil_retrain_finds_the_service_in_its_config(
    live: Live, hook: Recorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_actions(live, {"retrain": {"webhook": {"url": hook.url("/dag")}}})
    port = int(live.url.rsplit(":", 1)[1])
    config = tmp_path / "vigil.yaml"
    config.write_text(f"host: 0.0.0.0\nport: {port}\n")
    assert main(["retrain", "credit", "--reason", "configured", "--config", str(config)]) == 0
    assert json.loads(hook.received[0].body)["reason"] == "configured"
    assert main(["retrain", "nope", "--reason", "x", "--config", str(config)]) == 2
    assert "HTTP 404" in capsys.readouterr().err
