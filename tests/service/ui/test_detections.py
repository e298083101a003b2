"""Stream detections on the dashboard: a vertical mark where a detector fired, on the
feature page's deciding drift chart and on the performance chart, after the replay's change
and not before it; a screenshot to look at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.replay import CHANGE_DAY

from vigil.service.ui.charts import ms


@pytest.fixture(scope="module")
def tab(browser: Any, dashboard: Dashboard) -> Any:
    page = sign_in(browser, dashboard)
    yield page
    page.context.close()


def _marks(tab: Any) -> list[list[Any]]:
    """[chart, mark name, time ms] of every vertical mark drawn on the page."""
    return tab.evaluate(
        """() => [...document.querySelectorAll('[data-chart]')].flatMap(el => {
            if (!el.vigilChart) return [];
            return el.vigilChart.getOption().series.flatMap(s =>
                ((s.markLine || {}).data || []).filter(d => d.xAxis !== undefined)
                    .map(d => [el.dataset.chart, d.name, d.xAxis]));
        })"""
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/models/{MODEL}/features/income?last=30d&step=window",
        f"/models/{MODEL}/performance?last=30d&step=window",
    ],
)
def test_detections_are_marked_after_the_change_only(
    tab: Any, dashboard: Dashboard, path: str
) -> None:
    tab.goto(dashboard.url + path)
    charts_drawn(tab)
    marks = _marks(tab)
    assert marks, "a detector fired on the changed stream"
    change = ms(dashboard.start + timedelta(days=CHANGE_DAY))
    for _, name, at in marks:
        assert name == "adwin fired"
        assert at >= change - 6 * 3600 * 1000  # the change's window or later, never before
    shoot(tab, "detections-" + path.split("/")[3].split("?")[0])
