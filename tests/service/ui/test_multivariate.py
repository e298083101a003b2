"""Multivariate drift on the dashboard in chromium: the overview's card, and the drift page's
charts with the band, ok before the replay's change and not after, and the separating
features (a hostile name among them shown as text)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.pixels import chart_spec
from tests.service.ui.replay import CHANGE_DAY, HOSTILE

from vigil.service.ui.charts import ms


@pytest.fixture(scope="module")
def drift_page(browser: Any, dashboard: Dashboard) -> Iterator[Any]:
    page = sign_in(browser, dashboard)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{dashboard.url}/models/{MODEL}/drift?last=all&step=window&version=1")
    assert charts_drawn(page) == 3  # the heatmap and the two multivariate charts
    yield page
    assert dialogs == []
    page.context.close()


def test_the_measures_are_ok_before_the_change_and_not_after(
    drift_page: Any, dashboard: Dashboard
) -> None:
    change = ms(dashboard.start + timedelta(days=CHANGE_DAY))
    spec = chart_spec(drift_page, "multivariate-auc")
    auc = next(line for line in spec["lines"] if line["name"] == "domain AUC")["points"]
    before = [p[4] for p in auc if p[0] < change]
    after = [p[4] for p in auc if p[0] >= change]
    assert before and set(before) == {"ok"}, "a multivariate false alarm before the change"
    assert after and all(s == "critical" for s in after)
    error = chart_spec(drift_page, "multivariate-error")["lines"][0]
    assert error["name"] == "reconstruction error"
    bands = {b[0]: (b[1], b[2]) for b in error["band"]}
    for start, value, *_ in error["points"]:
        low, high = bands[start]
        assert low is not None and high is not None and low < high
        if start < change:
            assert value < high + 3 * (high - low), "far above its band before the change"
    shoot(drift_page, "drift-multivariate")


def test_the_separating_features_link_their_pages_and_show_names_as_text(
    drift_page: Any,
) -> None:
    table = drift_page.locator("#multivariate table.top-features")
    names = table.locator("tbody td:first-child").all_inner_texts()
    assert names and set(names) & {"income", HOSTILE}
    assert drift_page.locator("#multivariate img").count() == 0  # the name is text
    status = drift_page.locator('#multivariate tr[data-measure="domain_auc"] .status')
    assert status.inner_text() == "critical"


def test_the_overview_has_a_multivariate_card(browser: Any, dashboard: Dashboard) -> None:
    page = sign_in(browser, dashboard)
    try:
        page.goto(f"{dashboard.url}/models/{MODEL}?last=all")
        charts_drawn(page)
        card = page.locator("section[data-card=multivariate]")
        assert card.count() == 1
        assert card.get_attribute("data-status") == "critical"
        assert "AUC" in card.inner_text()
        until = dashboard.start + timedelta(days=CHANGE_DAY - 2)
        page.goto(
            f"{dashboard.url}/models/{MODEL}?since={dashboard.start.isoformat()}Z"
            f"&until={until.isoformat()}Z"
        )
        charts_drawn(page)
        calm = page.locator("section[data-card=multivariate]")
        assert calm.get_attribute("data-status") == "ok"
    finally:
        page.context.close()
