"""The fairness page and card in chromium: each measure of the protected region over time with
its band and levels, the groups' rates of the latest window, the overview's card, a refused
measure name."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in


@pytest.fixture(scope="module")
def person(dashboard: Dashboard) -> Any:
    with httpx.Client(base_url=dashboard.url, timeout=60) as client:
        r = client.post("/signin", data={"token": TOKENS["admin"], "next": "/"})
        assert r.status_code == 303
        yield client


@pytest.fixture(scope="module")
def tab(browser: Any, dashboard: Dashboard) -> Any:
    page = sign_in(browser, dashboard)
    yield page
    page.context.close()


def _option(tab: Any, chart: str) -> dict[str, Any]:
    return dict(
        tab.evaluate(
            """(chart) => {
                const o = document.querySelector(`[data-chart=${chart}]`).vigilChart.getOption();
                return {series: o.series.map(s => ({name: s.name, n: s.data.length,
                         lines: (s.markLine && s.markLine.data || []).map(d => d.yAxis),
                         places: (s.markLine && s.markLine.data || []).map(
                             d => [d.yAxis, d.label && d.label.position])}))};
            }""",
            chart,
        )
    )


def test_the_page_draws_the_measure_with_band_levels_and_the_groups(
    tab: Any, dashboard: Dashboard
) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/fairness?last=30d&step=window")
    assert charts_drawn(tab) == 2
    drawn = _option(tab, "chart-fairness-1")
    names = [s["name"] for s in drawn["series"]]
    assert "region" in names and "region band" in names
    region = next(s for s in drawn["series"] if s["name"] == "region")
    assert region["n"] >= 50  # one point per 6-hour window of the two weeks
    levels = sorted(v for s in drawn["series"] for v in s["lines"] if v is not None)
    assert levels == [0.6, 0.8]  # disparate impact: critical and warning levels
    # the higher level's label above its line, the lower's below: close lines, apart labels
    assert sorted(region["places"]) == [[0.6, "insideEndBottom"], [0.8, "insideEndTop"]]
    groups = _option(tab, "chart-groups-1")
    assert [s["name"] for s in groups["series"]] == ["selection_rate", "tpr", "fpr"]
    assert "north" in tab.inner_text("[data-attribute=region]")
    shoot(tab, "fairness")


def test_the_overview_has_a_fairness_card_linking_to_the_page(person: Any) -> None:
    page = person.get(f"/models/{MODEL}?last=30d").text
    assert 'data-card="fairness"' in page
    card = page[page.index('data-card="fairness"') :]
    assert "disparate impact" in card[:3000]
    assert f"/models/{MODEL}/fairness" in page
    measured = person.get(
        f"/models/{MODEL}/fairness", params={"measure": "demographic_parity_difference"}
    )
    assert (
        measured.status_code == 200 and "demographic_parity_difference by region" in measured.text
    )


def test_an_unknown_measure_is_refused_by_name(person: Any) -> None:
    r = person.get(f"/models/{MODEL}/fairness", params={"measure": "<b>parity</b>"})
    assert r.status_code == 422
    assert "is not a fairness measure" in r.text and "<b>parity" not in r.text
