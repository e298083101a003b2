"""The model overview in chromium: its cards' statuses before and after the change, the
hostile names as text, refused parameters, and screenshots at 1,280 and 1,920 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.replay import CHANGE_DAY, HOSTILE

BEFORE_CHANGE = CHANGE_DAY - 2  # days of unshifted traffic, most of them labelled


def _range_before_change(dashboard: Dashboard) -> str:
    until = dashboard.start + timedelta(days=BEFORE_CHANGE)
    return f"since={dashboard.start.isoformat()}Z&until={until.isoformat()}Z"


def _statuses(page: Any) -> dict[str, str]:
    return {
        el.get_attribute("data-card"): el.get_attribute("data-status")
        for el in page.locator("section[data-card]").all()
    }


@pytest.fixture(scope="module")
def person(dashboard: Dashboard) -> Any:
    """A browser without JavaScript, signed in as admin through the sign-in form."""
    with httpx.Client(base_url=dashboard.url, timeout=60) as client:
        r = client.post("/signin", data={"token": TOKENS["admin"], "next": "/"})
        assert r.status_code == 303
        yield client


@pytest.fixture(scope="module")
def overview(browser: Any, dashboard: Dashboard) -> Any:
    page = sign_in(browser, dashboard)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    page.context.close()


def test_after_the_change_drift_is_critical_and_performance_fell(
    overview: Any, dashboard: Dashboard
) -> None:
    overview.goto(f"{dashboard.url}/models/{MODEL}")
    assert charts_drawn(overview) >= 6
    statuses = _statuses(overview)
    assert statuses["drift"] == "critical"
    assert statuses["performance-1"] in ("warning", "critical")
    assert statuses["balance"] == "critical"  # the prediction's classes moved with the score
    # the performance card compares with the reference and says how much is labelled
    card = overview.locator("section[data-card=performance-1]")
    text = card.inner_text()
    assert "reference: 0.675" in text  # the validation set's roc_auc (replay.py's reference)
    assert "labelled:" in text and "wait for labels" in text  # labels come two days late
    assert "drifted share" in overview.locator("section[data-card=drift]").inner_text()
    # a critical card is drawn with the critical colour on its edge
    edge = overview.locator("section[data-card=drift]").evaluate(
        "el => getComputedStyle(el).borderLeftColor"
    )
    assert edge == "rgb(198, 40, 40)"
    assert "firing" in overview.locator("[data-card=alerts]").inner_text()
    for width in (1280, 1920):
        overview.set_viewport_size({"width": width, "height": 900})
        shoot(overview, f"overview-{width}")


def test_before_the_change_nothing_is_red(overview: Any, dashboard: Dashboard) -> None:
    overview.goto(f"{dashboard.url}/models/{MODEL}?{_range_before_change(dashboard)}")
    charts_drawn(overview)
    statuses = _statuses(overview)
    assert statuses  # the cards are there
    assert not [k for k, s in statuses.items() if s in ("warning", "critical")], statuses
    assert statuses["drift"] == "ok"
    assert statuses["performance-1"] == "ok"
    shoot(overview, "overview-before-change-1280")


def test_the_challenger_has_its_own_card_and_a_version_view(
    overview: Any, dashboard: Dashboard
) -> None:
    overview.goto(f"{dashboard.url}/models/{MODEL}?version=2&last=30d")
    charts_drawn(overview)
    assert overview.locator("section[data-card=performance-2]").count() == 1
    assert "version 2" in overview.locator("h2").nth(1).inner_text()
    assert overview.locator("select[name=version] option[selected]").inner_text() == "2"


def test_hostile_names_show_as_text(overview: Any, dashboard: Dashboard) -> None:
    overview.goto(f"{dashboard.url}/models/{MODEL}")
    charts_drawn(overview)
    # the hostile feature drifts, so its alert is listed with its name as text
    assert overview.locator(f"text={HOSTILE}").count() >= 1
    assert overview.locator("img[src=x]").count() == 0
    assert overview.dialogs == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("last=forever", 422),
        ("since=yesterday", 422),
        ("step=2h", 422),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", 422),
        ("version=9", 404),
        ("version=" + "9" * 5000, 422),
        ("last=" + "%00", 422),
        ("version=%3Cscript%3E", 404),
    ],
)
def test_hostile_parameters_get_a_4xx_page(person: Any, query: str, status: int) -> None:
    r = person.get(f"/models/{MODEL}?{query}")
    assert r.status_code == status, r.text[-400:]
    assert "<script>" not in r.text
    assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("last=forever", 422),
        ("since=yesterday", 422),
        ("step=2h", 422),
        ("version=9", 404),
        ("version=" + "9" * 5000, 422),
        ("last=" + "%00", 422),
        ("version=%3Cscript%3E", 404),
    ],
)
def test_the_fairness_page_gives_hostile_parameters_a_4xx_page(
    person: Any, query: str, status: int
) -> None:
    """The range and version parameters of the fairness page, as the overview's."""
    r = person.get(f"/models/{MODEL}/fairness?{query}")
    assert r.status_code == status, r.text[-400:]
    assert "<script>" not in r.text
    assert r.headers["content-type"].startswith("text/html")


def test_an_unknown_model_is_a_404_page(person: Any) -> None:
    for name in ("nope", "%3Cimg%20src%3Dx%3E", "a%00b"):
        r = person.get(f"/models/{name}")
        assert r.status_code == 404
        assert "<img src=x>" not in r.text


def test_a_reader_sees_the_overview(browser: Any, dashboard: Dashboard) -> None:
    with httpx.Client(base_url=dashboard.url) as anonymous:
        assert anonymous.get(f"/models/{MODEL}").status_code == 303
    page = sign_in(browser, dashboard, "reader")
    page.goto(f"{dashboard.url}/models/{MODEL}")
    assert page.locator("section[data-card=drift]").count() == 1
    page.context.close()


def test_the_performance_card_shows_the_estimate_while_labels_are_out(
    overview: Any, dashboard: Dashboard
) -> None:
    overview.goto(f"{dashboard.url}/models/{MODEL}")
    charts_drawn(overview)
    text = overview.locator("section[data-card=performance-1]").inner_text()
    # the newest windows have no labels yet: the figure is the estimate from the scores
    assert "≈" in text and "(estimated)" in text
    assert "estimated from the scores at" in text and "before its labels" in text
    assert "reference: 0.675" in text
