"""The performance page in chromium: the drop after the change below the band of the weeks
before (read from the drawn chart and one pixel), label coverage, segments, versions side by
side, the hostile names as text, refused parameters, screenshots at 1,280 and 1,920 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.replay import CHANGE_DAY


@pytest.fixture(scope="module")
def person(dashboard: Dashboard) -> Any:
    with httpx.Client(base_url=dashboard.url, timeout=60) as client:
        r = client.post("/signin", data={"token": TOKENS["admin"], "next": "/"})
        assert r.status_code == 303
        yield client


@pytest.fixture(scope="module")
def tab(browser: Any, dashboard: Dashboard) -> Any:
    page = sign_in(browser, dashboard)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    page.context.close()


def _line(tab: Any, chart: str, name: str) -> list[list[Any]]:
    """The drawn chart's data of one line: [time ms, value] per point."""
    return tab.evaluate(
        """([chart, name]) => {
            const option = document.querySelector(`[data-chart=${chart}]`).vigilChart.getOption();
            const s = option.series.find(s => s.name === name);
            return s.data.map(d => d.value);
        }""",
        [chart, name],
    )


def _band(tab: Any, chart: str, name: str) -> list[list[Any]]:
    """[time ms, lower, height] per point of a line's drawn band."""
    return tab.evaluate(
        """([chart, name]) => {
            const option = document.querySelector(`[data-chart=${chart}]`).vigilChart.getOption();
            const parts = option.series.filter(s => s.name === name + " band");
            return parts[0].data.map((d, i) => [d[0], d[1], parts[1].data[i][1]]);
        }""",
        [chart, name],
    )


def test_the_drop_after_the_change_is_below_the_band_before(tab: Any, dashboard: Dashboard) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/performance?last=30d&step=window")
    assert charts_drawn(tab) >= 2
    name = "version 1 (current)"
    points = _line(tab, "chart-metric", name)
    band = {t: (low, low + height) for t, low, height in _band(tab, "chart-metric", name)
            if low is not None}  # fmt: skip
    change = (dashboard.start + timedelta(days=CHANGE_DAY) - dashboard.start).total_seconds()
    first = points[0][0]
    before = [(t, v) for t, v in points if v is not None and t - first < change * 1000]
    after = [(t, v) for t, v in points if v is not None and t - first >= change * 1000]
    assert len(before) >= 28 and len(after) >= 8  # labels lag two days behind the change
    lowest_band_before = min(band[t][0] for t, _ in before)
    mean_after = sum(v for _, v in after) / len(after)
    assert mean_after < lowest_band_before  # the drop clears the noise of the weeks before
    assert sum(v < lowest_band_before for _, v in after) >= len(after) // 2
    # pixels: a critical point after the change is drawn in the critical colour
    critical = tab.evaluate(
        """() => {
            const el = document.querySelector('[data-chart=chart-metric]');
            const option = el.vigilChart.getOption();
            const idx = option.series.findIndex(s => s.name === 'version 1 (current)');
            const d = option.series[idx].data.find(d => d.status === 'critical');
            const [x, y] = el.vigilChart.convertToPixel({seriesIndex: idx}, d.value);
            const canvas = el.querySelector('canvas');
            const r = window.devicePixelRatio;
            const px = canvas.getContext('2d').getImageData(Math.round((x - 6) * r),
                Math.round((y - 6) * r), Math.round(12 * r), Math.round(12 * r)).data;
            const out = [];
            for (let i = 0; i < px.length; i += 4) out.push([px[i], px[i + 1], px[i + 2]]);
            return out;
        }"""
    )
    # the symbol is a ring (white inside): its outline within 6 px of the point's centre
    assert [198, 40, 40] in critical
    # label coverage is drawn beside it, between 0 and 1, the latest days still unlabelled
    coverage = [v for _, v in _line(tab, "chart-coverage", name) if v is not None]
    assert coverage and all(0.0 <= v <= 1.0 for v in coverage)
    assert coverage[-1] == 0.0 and max(coverage) == 1.0
    for width in (1280, 1920):
        tab.set_viewport_size({"width": width, "height": 900})
        shoot(tab, f"performance-{width}")


def test_versions_side_by_side_without_a_challenger(tab: Any, dashboard: Dashboard) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/performance?last=30d")
    charts_drawn(tab)
    assert tab.locator("[data-challenge=none]").count() == 1
    rows = tab.locator("table[data-table=versions] tbody tr")
    assert [r.get_attribute("data-version") for r in rows.all()] == ["1", "2"]
    assert "current" in rows.nth(0).inner_text()
    assert "0.675" in rows.nth(0).inner_text()  # the reference's roc_auc


def test_a_segment_shows_its_own_series(tab: Any, dashboard: Dashboard) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/performance?last=30d")
    charts_drawn(tab)
    options = tab.locator("select[name=segment] option").all_inner_texts()
    assert options == ["whole windows", "region=north", "region=south"]
    assert tab.locator("[data-chart=chart-segments]").count() == 1
    tab.select_option("select[name=segment]", "region=north")
    tab.click("form.choices button[type=submit]")
    tab.wait_for_url("**segment=region%3Dnorth**")
    charts_drawn(tab)
    assert "region=north" in tab.locator("[data-card=metric] h3").inner_text()
    assert _line(tab, "chart-metric", "version 1 (current)")
    shoot(tab, "performance-segment-1280")


def test_another_metric_is_chosen_by_url(tab: Any, dashboard: Dashboard) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/performance?metric=log_loss")
    charts_drawn(tab)
    assert "lower is better" in tab.locator("[data-card=metric] h3").inner_text()
    assert tab.dialogs == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("metric=nope", 422),
        ("metric=%3Cscript%3Ealert(1)%3C/script%3E", 422),
        ("metric=" + "a" * 5000, 422),
        ("segment=region%3Dwest", 404),
        ("segment=%3Cimg%20src%3Dx%3E", 404),
        ("version=7", 404),
        ("step=fortnight", 422),
        ("until=never", 422),
        ("segment=%00", 422),
    ],
)
def test_hostile_parameters_get_a_4xx_page(person: Any, query: str, status: int) -> None:
    r = person.get(f"/models/{MODEL}/performance?{query}")
    assert r.status_code == status, r.text[-400:]
    assert "<script>alert" not in r.text and "<img src=x>" not in r.text


def test_the_estimate_is_drawn_beside_the_realized_line_and_reaches_past_it(
    tab: Any, dashboard: Dashboard
) -> None:
    tab.goto(f"{dashboard.url}/models/{MODEL}/performance?last=30d&step=window")
    assert charts_drawn(tab) >= 2
    realized = [
        (t, v) for t, v in _line(tab, "chart-metric", "version 1 (current)") if v is not None
    ]
    name = "version 1 (current), estimated before labels"
    estimated = [(t, v) for t, v in _line(tab, "chart-metric", name) if v is not None]
    assert estimated and all(0.0 <= v <= 1.0 for _, v in estimated)
    # the labels come two days late; the estimate needs none, so it covers the last windows
    assert max(t for t, _ in estimated) > max(t for t, _ in realized)
    band = [(low, height) for _, low, height in _band(tab, "chart-metric", name) if low is not None]
    assert band and all(height > 0 for _, height in band)
    assert "estimated before labels" in tab.locator("[data-card=metric] h3").inner_text()
