"""The drift heatmap in chromium: drifted features red after the replay's change and not
before, a cell opening the feature's page, hostile names shown as text, bad parameters 4xx."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.pixels import GREEN, RED, chart_spec, colours_at, is_near
from tests.service.ui.replay import CHANGE_DAY, HOSTILE, SLASHED

from vigil.service.ui.charts import ms

HEATMAP = '[data-chart="drift-heatmap"]'
EVERY_WINDOW = "last=all&step=window"


@pytest.fixture(scope="module")
def reader(dashboard: Dashboard) -> Iterator[httpx.Client]:
    """A browser without JavaScript, signed in with the read-only token."""
    with httpx.Client(base_url=dashboard.url, timeout=30) as person:
        r = person.post("/signin", data={"token": TOKENS["reader"], "next": "/"})
        assert r.status_code == 303
        yield person


@pytest.fixture
def watched(browser: Any, dashboard: Dashboard) -> Iterator[tuple[Any, list[str]]]:
    """A signed-in tab, and the dialogs any script opened in it (there must be none)."""
    page = sign_in(browser, dashboard)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield page, dialogs
    page.context.close()


def _row(spec: dict[str, Any], name: str) -> int:
    return int(spec["rows"].index(name))


def test_drifted_features_are_red_after_the_change_and_never_before(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, dialogs = watched
    page.goto(f"{dashboard.url}/models/{MODEL}/drift?{EVERY_WINDOW}")
    assert charts_drawn(page) == 3  # the heatmap and the two multivariate charts
    spec = chart_spec(page, "drift-heatmap")
    change = ms(dashboard.start + timedelta(days=CHANGE_DAY))
    columns = spec["columns"]
    before = [i for i, start in enumerate(columns) if start < change]
    after = [i for i, start in enumerate(columns) if start >= change]
    assert len(before) == 4 * CHANGE_DAY and len(after) == 4 * 6  # 6-hour windows, 14 days
    # the drifted features are the first rows: most drifted first
    assert set(spec["rows"][:2]) == {"income", HOSTILE}
    for name in ("income", HOSTILE):
        row = _row(spec, name)
        seen = colours_at(page, HEATMAP, [[i, row] for i in range(len(columns))])
        reds_before = [columns[i] for i in before if is_near(seen[i], RED)]
        assert reds_before == [], f"{name}: red before the change (false alarms)"
        assert all(is_near(seen[i], RED) for i in after), f"{name}: not red after the change"
        assert sum(is_near(seen[i], GREEN) for i in before) >= len(before) - 2
    # age never changes: no red cell anywhere in its row
    age = colours_at(page, HEATMAP, [[i, _row(spec, "age")] for i in range(len(columns))])
    assert not any(is_near(c, RED) for c in age)
    assert dialogs == []


def test_a_click_on_a_cell_opens_the_feature_page_on_that_window(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, dialogs = watched
    shown = dashboard.start + timedelta(days=CHANGE_DAY, hours=6)
    for name in ("income", HOSTILE):
        page.goto(f"{dashboard.url}/models/{MODEL}/drift?{EVERY_WINDOW}")
        charts_drawn(page)
        spec = chart_spec(page, "drift-heatmap")
        point = [spec["columns"].index(ms(shown)), _row(spec, name)]
        x, y = page.evaluate(
            "([sel, p]) => document.querySelector(sel).vigilChart"
            ".convertToPixel({seriesIndex: 0}, p)",
            [HEATMAP, point],
        )
        box = page.locator(HEATMAP).bounding_box()
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_url(f"**/features/{quote(name, safe='')}?**")
        query = parse_qs(urlsplit(page.url).query)
        assert query["window"] == [shown.isoformat() + "Z"] and query["step"] == ["window"]
        assert page.locator("h1.column-name").inner_text() == name
        heading = page.locator("main h2").first.inner_text()
        assert shown.strftime("%Y-%m-%d %H:%M UTC") in heading and "critical" in heading
    assert dialogs == []


def test_hostile_names_are_text_and_their_feature_pages_open(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, dialogs = watched
    page.goto(f"{dashboard.url}/models/{MODEL}/drift")
    charts_drawn(page)
    drifted = page.locator("table.drifted-now")
    assert drifted.locator("a", has_text=HOSTILE).count() == 1
    assert page.locator("text=<img src=x").count() >= 1
    page.locator("details.all-columns summary").click()
    every = page.locator("table.all-columns")
    assert every.locator("a", has_text=SLASHED).count() == 1
    labels = chart_spec(page, "drift-heatmap")["rows"]
    assert HOSTILE in labels and SLASHED in labels
    assert page.locator("img").count() == 0  # the name never became an element
    for name in (HOSTILE, SLASHED):
        page.goto(f"{dashboard.url}/models/{MODEL}/drift")
        page.locator("details.all-columns summary").click()
        link = page.locator("table.all-columns a", has_text=name)
        assert link.get_attribute("href").startswith(
            f"/models/{MODEL}/features/{quote(name, safe='')}?"
        )
        link.click()
        page.wait_for_load_state()
        assert page.locator("h1.column-name").inner_text() == name
        charts_drawn(page)
    assert dialogs == []


def test_version_and_segment_choose_what_the_heatmap_shows(
    reader: httpx.Client, dashboard: Dashboard
) -> None:
    whole = reader.get(f"/models/{MODEL}/drift")
    assert whole.status_code == 200
    assert '<option value="region=north"' in whole.text
    north = reader.get(f"/models/{MODEL}/drift", params={"segment": "region=north"})
    assert north.status_code == 200 and "drift-heatmap" in north.text
    assert '<option value="region=north" selected>' in north.text
    two = reader.get(f"/models/{MODEL}/drift", params={"version": "2", "last": "all"})
    assert two.status_code == 200 and '<option value="2" selected>' in two.text
    # a segment of the right shape without windows: an honest empty page, not an error
    mars = reader.get(f"/models/{MODEL}/drift", params={"segment": "region=mars"})
    assert mars.status_code == 200 and "No judged drift in this range" in mars.text


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        (f"/models/{MODEL}/drift", {"version": "9"}, 404, "has no version '9'"),
        (f"/models/{MODEL}/drift", {"version": "<script>"}, 404, "no version '<script>'"),
        (f"/models/{MODEL}/drift", {"segment": "planet=mars"}, 404, "segment column: region"),
        (f"/models/{MODEL}/drift", {"segment": "x" * 5000}, 422, "at most 300"),
        (f"/models/{MODEL}/drift", {"segment": "region=\x00"}, 422, "control characters"),
        (f"/models/{MODEL}/drift", {"last": "forever"}, 422, "is not a range"),
        (f"/models/{MODEL}/drift", {"since": "yesterday"}, 422, "is not a time"),
        (f"/models/{MODEL}/drift", {"since": "2026-12-01", "until": "2026-11-01"}, 422, "later"),
        (f"/models/{MODEL}/drift", {"step": "2h"}, 422, "is not a step"),
        (f"/models/{MODEL}/drift", {"step": "9" * 4000}, 422, "at most 300"),
        ("/models/nope/drift", {}, 404, "no model 'nope'"),
        (f"/models/{MODEL}/drift", {"since": "0001-01-01T00:00:00Z"}, 200, "Drift over time"),
        (f"/models/{MODEL}/drift", {"since": "9999-12-31T23:59:59Z"}, 200, "No judged drift"),
    ],
)
def test_bad_parameters_are_a_4xx_page_naming_them(
    reader: httpx.Client, path: str, params: dict[str, str], status: int, says: str
) -> None:
    r = reader.get(path, params=params)
    assert r.status_code == status, r.text[:400]
    assert "<script>" not in r.text.split("</head>")[1]  # a stored or sent string stays text
    assert says in html.unescape(r.text)
    assert r.headers["content-type"].startswith("text/html")


def test_screenshots_at_both_widths(browser: Any, dashboard: Dashboard) -> None:
    for width in (1280, 1920):
        page = sign_in(browser, dashboard, "reader", width)
        for name, query in (("drift", ""), ("drift-all", f"?{EVERY_WINDOW}"),
                            ("drift-north", "?segment=region%3Dnorth&step=1d")):  # fmt: skip
            page.goto(f"{dashboard.url}/models/{MODEL}/drift{query}")
            assert charts_drawn(page) == 3  # the heatmap and the two multivariate charts
            # the heatmap is as tall as its rows need and as wide as the page's card
            height = page.locator(HEATMAP).bounding_box()["height"]
            assert height >= 24 * 7
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shoot(page, f"{name}-{width}")
        page.context.close()
