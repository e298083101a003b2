"""The overview and performance pages of a service with an SLA, a retrain policy and a
challenger configured: the cards that say "not configured" on the shared dashboard show the
budget, the schedule, the retrains and the champion/challenger roles here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.service.conftest import TOKENS, ThreadServer
from tests.service.ui.conftest import MODEL, settings_for
from tests.service.ui.replay import replay, start_of_replay

from vigil.alerts.action_settings import parse_actions
from vigil.alerts.sla import parse_slas
from vigil.service.app import create_app


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A second replayed service, signed in as admin through the sign-in form."""
    tmp: Path = tmp_path_factory.mktemp("configured")
    base = settings_for(tmp)
    true = shutil.which("true") or "/bin/true"
    alerts = replace(
        base.alerts,
        slas=parse_slas(
            [{"name": "serving", "target": 0.9, "objectives": {"ops.latency_p99_ms": "<= 40"}}]
        ),
        actions=parse_actions(
            {
                "retrain": {"command": [true], "schedule": "0 3 * * *", "monthly_budget": 4},
                "challenger": {MODEL: {"champion": "1", "challenger": "2", "metric": "roc_auc"}},
            },
            allow=(),
        ),
    )
    app = create_app(replace(base, alerts=alerts), scheduler=False)
    admin = {"authorization": f"Bearer {TOKENS['admin']}"}
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60) as person:
        with httpx.Client(base_url=url, timeout=60, headers=admin) as api:
            replay(api, MODEL, start=start_of_replay())
            r = api.post(f"/v1/models/{MODEL}/retrain", json={"reason": "a person asked"})
            assert r.status_code == 200 and r.json()["outcome"] == "sent", r.text
        assert person.post("/signin", data={"token": TOKENS["admin"]}).status_code == 303
        yield person


def _card(html: str, key: str) -> str:
    start = html.index(f'data-card="{key}"')
    return html[start : html.index("</section>", start)]


def test_the_sla_card_shows_the_latency_budget_and_its_spending(configured: Any) -> None:
    html = configured.get(f"/models/{MODEL}").text
    latency = _card(html, "latency")
    assert "budget ops.latency_p99_ms &lt;= 40 (SLA serving)" in latency
    assert "no budget set" not in latency
    sla = _card(html, "sla")
    assert "serving: latest window" in sla and "breached" in sla
    assert "% of the error budget left" in sla  # windows were judged against the objective


def test_the_retrain_card_shows_the_last_the_next_and_this_month(configured: Any) -> None:
    retrain = _card(configured.get(f"/models/{MODEL}").text, "retrain")
    assert "(manual)" in retrain  # the retrain asked for above, sent by the command
    assert "next scheduled: " in retrain and "03:00 UTC" in retrain
    assert "manual 1" in retrain and "budget 4 a month" in retrain


def test_the_performance_page_names_champion_and_challenger(configured: Any) -> None:
    html = configured.get(f"/models/{MODEL}/performance?last=30d").text
    assert 'data-challenge="configured"' in html
    assert "Challenger <b>2</b> against champion <b>1</b> on roc_auc" in html
    rows = html[html.index('data-table="versions"') :]
    assert "<td>champion</td>" in rows and "<td>challenger</td>" in rows
