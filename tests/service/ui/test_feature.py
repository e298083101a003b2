"""A feature's page in chromium: the reference against the window, each drift measure with its
threshold and control limits drawn, quality over time, hostile names and categories as text,
bad parameters 4xx. Figures are checked against the JSON API, read point by point."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
import numpy as np
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import (
    CONTROL_RULE,
    MODEL,
    Dashboard,
    charts_drawn,
    shoot,
    sign_in,
)
from tests.service.ui.pixels import AMBER, RED, chart_spec, count_on_row
from tests.service.ui.replay import CHANGE_DAY, HOSTILE, SCRIPT_CATEGORY, SLASHED

from vigil.service.ui.charts import ms

KS_CHART = '.measure[data-metric="drift.ks"] [data-chart]'


def feature_url(dashboard: Dashboard, column: str, query: str = "") -> str:
    return f"{dashboard.url}/models/{MODEL}/features/{quote(column, safe='')}{query}"


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


def shown_window(page: Any) -> tuple[str, datetime]:
    """The version and start of the window the page shows, from its report link."""
    link = page.locator("a", has_text="The window's full report").get_attribute("href")
    version, kind, start = urlsplit(link).path.split("/")[-3:]
    assert kind == "tumbling"
    return unquote(version), datetime.fromisoformat(unquote(start).removesuffix("Z"))


def range_since(page: Any) -> datetime:
    """The start of the page's range, from its absolute "Link to this view"."""
    pinned = page.locator("a.pin").get_attribute("href")
    return datetime.fromisoformat(parse_qs(urlsplit(pinned).query)["since"][0].removesuffix("Z"))


def api_values(
    dashboard: Dashboard, metric: str, column: str, version: str, since: datetime, until: datetime
) -> list[float]:
    """The metric's window values from the JSON API, one point at a time."""
    r = dashboard.api.get(
        f"/v1/models/{MODEL}/metrics",
        params={"metric": metric, "column": column, "version": version, "kind": "tumbling",
                "since": since.isoformat() + "Z", "until": until.isoformat() + "Z"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return [p["value"] for p in r.json()["points"] if p["segment"] == ""]


def test_the_window_against_the_reference_shows_the_shift(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(feature_url(dashboard, "income"))
    assert charts_drawn(page) == page.locator("[data-chart]").count() >= 10
    version, start = shown_window(page)
    assert start >= dashboard.start + timedelta(days=CHANGE_DAY)  # the latest window: changed
    page.locator("details.distribution-table summary").click()
    cells = page.locator("details.distribution-table tbody tr").all_inner_texts()
    shown = [[float(s.rstrip("%")) / 100 for s in row.split("\t")[1:]] for row in cells]
    report = dashboard.api.get(
        f"/v1/models/{MODEL}/windows/{version}/tumbling/{start.isoformat()}Z/report"
    ).json()["drift"]["columns"]["income"]["distribution"]
    assert len(shown) == len(report["labels"]) == 10
    for (ref, cur), r, c in zip(shown, report["reference"], report["current"], strict=True):
        assert ref == pytest.approx(r, abs=0.0006) and cur == pytest.approx(c, abs=0.0006)
    # reference deciles hold a tenth each; income fell by e^-0.5, so about half of the window
    # lies below the reference's first decile: Φ((ln q10 − μ + 0.5)/σ) = Φ(−1.28 + 1.25) ≈ 0.49
    assert all(ref == pytest.approx(0.1, abs=0.002) for ref, _ in shown)
    assert 0.35 < shown[0][1] < 0.63
    assert "critical" in page.locator("main h2").first.inner_text()


def test_the_threshold_lines_are_drawn_at_the_specs_levels(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(feature_url(dashboard, "income"))
    charts_drawn(page)
    card = page.locator('.measure[data-metric="drift.ks"]')
    assert "decides this column" in card.locator("h3").inner_text()
    assert "warning from 0.1, critical from 0.2" in card.inner_text()
    first = min(p[0] for line in chart_spec(page, "measure-1")["lines"] for p in line["points"])
    change = ms(dashboard.start + timedelta(days=CHANGE_DAY))
    # before the change the line runs near 0.05: at 0.1 and 0.2 only the dashed levels are drawn
    span = {"x0": first, "x1": change}
    assert count_on_row(page, KS_CHART, y=0.1, colour=AMBER, **span) >= 8
    assert count_on_row(page, KS_CHART, y=0.2, colour=RED, **span) >= 8
    assert count_on_row(page, KS_CHART, y=0.15, colour=AMBER, **span) == 0
    assert count_on_row(page, KS_CHART, y=0.15, colour=RED, **span) == 0


def test_control_limits_come_from_a_control_rule_or_the_earlier_windows(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(feature_url(dashboard, "income"))
    charts_drawn(page)
    version, start = shown_window(page)
    values = api_values(dashboard, "drift.ks", "income", version, range_since(page), start)
    (name, lower, upper) = next(
        (x["name"], x["lower"], x["upper"]) for x in chart_spec(page, "measure-1")["limits"]
    )
    assert name == f"mean ± 3σ of the {len(values)} earlier windows in range"
    mean, sigma = float(np.mean(values)), float(np.std(values, ddof=1))
    assert (lower, upper) == pytest.approx((mean - 3 * sigma, mean + 3 * sigma))
    assert name in page.locator('.measure[data-metric="drift.ks"]').inner_text()

    page.goto(feature_url(dashboard, "age"))
    charts_drawn(page)
    version, start = shown_window(page)
    card = page.locator('.measure[data-metric="drift.psi"]')
    spec_id = card.locator("[data-chart]").get_attribute("data-chart")
    limit = chart_spec(page, spec_id)["limits"][0]
    reach = CONTROL_RULE.when.windows  # type: ignore[union-attr]
    earlier = api_values(
        dashboard, "drift.psi", "age", version, start - timedelta(hours=6 * reach), start
    )
    assert limit["name"] == f"rule {CONTROL_RULE.name}: mean ± 10σ of the last {reach} windows"
    mean, sigma = float(np.mean(earlier)), float(np.std(earlier, ddof=1))
    assert (limit["lower"], limit["upper"]) == pytest.approx((mean - 10 * sigma, mean + 10 * sigma))
    assert limit["name"] in card.inner_text()


def test_quality_over_time_has_each_share_and_its_levels(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, _ = watched
    page.goto(feature_url(dashboard, "income"))
    charts_drawn(page)
    titles = page.locator(".measure h3").all_inner_texts()
    for share in ("missing share", "out of range share", "outliers share"):
        assert share in titles
    out_of_range = page.locator('.measure[data-metric="quality.out_of_range_share"] [data-chart]')
    spec = chart_spec(page, out_of_range.get_attribute("data-chart"))
    assert [(t["name"], t["value"]) for t in spec["thresholds"]] == [
        ("warning", 0.01),
        ("critical", 0.05),
    ]
    page.goto(feature_url(dashboard, SLASHED))
    charts_drawn(page)
    assert "unseen categories share" in page.locator(".measure h3").all_inner_texts()


def test_hostile_names_and_categories_are_text(
    watched: tuple[Any, list[str]], dashboard: Dashboard
) -> None:
    page, dialogs = watched
    page.goto(feature_url(dashboard, SLASHED))
    charts_drawn(page)
    assert page.locator("h1.column-name").inner_text() == SLASHED
    page.locator("details.distribution-table summary").click()
    assert page.locator("details.distribution-table td", has_text=SCRIPT_CATEGORY).count() == 1
    assert SCRIPT_CATEGORY in chart_spec(page, "distribution")["categories"]
    page.goto(feature_url(dashboard, HOSTILE))
    charts_drawn(page)
    assert page.locator("h1.column-name").inner_text() == HOSTILE
    assert page.locator("main img").count() == 0
    # a point on a chart links to this page on its window, the name percent-encoded
    point = chart_spec(page, "measure-1")["lines"][0]["points"][0]
    assert point[5].startswith(f"/models/{MODEL}/features/{quote(HOSTILE, safe='')}?")
    page.goto(dashboard.url + point[5])
    charts_drawn(page)
    assert page.locator("h1.column-name").inner_text() == HOSTILE
    assert dialogs == []


@pytest.mark.parametrize(
    ("column", "params", "status", "says"),
    [
        ("nope", {}, 404, "has no drift-checked column 'nope'. Its columns include: "),
        ("nope", {}, 404, "'a/b?c#d&e', 'age', 'income'"),
        ("region", {}, 404, "has no drift-checked column 'region'"),
        ("x" * 5000, {}, 404, "has no drift-checked column"),
        ("in\x00come", {}, 404, "has no drift-checked column"),
        ("../../etc/passwd", {}, 404, "has no drift-checked column"),
        ("income", {"window": "soon"}, 422, "window='soon' is not a time"),
        ("income", {"window": "1999-01-01T00:00:00Z"}, 404, "No judged window of 'income'"),
        ("income", {"window": "9999-12-31T23:59:59Z"}, 404, "No judged window"),
        ("income", {"window": "w" * 400}, 422, "at most 300"),
        ("income", {"version": "7"}, 404, "no version '7'"),
        ("income", {"segment": "region"}, 404, "is not a segment"),
        ("income", {"step": "fortnight"}, 422, "is not a step"),
        ("income", {"until": "2026-13-01"}, 422, "is not a time"),
    ],
)
def test_bad_columns_and_parameters_are_a_4xx_page_naming_them(
    reader: httpx.Client, column: str, params: dict[str, str], status: int, says: str
) -> None:
    r = reader.get(f"/models/{MODEL}/features/{quote(column, safe='')}", params=params)
    assert r.status_code == status, r.text[:400]
    assert says in html.unescape(r.text)
    assert "<script>" not in r.text.split("</head>")[1]


def test_a_segment_and_a_version_are_kept_and_said(reader: httpx.Client) -> None:
    r = reader.get(
        f"/models/{MODEL}/features/income", params={"segment": "region=south", "version": "2"}
    )
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert "version 2" in text and "the charts below are of region=south" in text
    assert "segment=region%3Dsouth" in r.text and "version=2" in r.text  # links keep them


def test_screenshots_at_both_widths(browser: Any, dashboard: Dashboard) -> None:
    for width in (1280, 1920):
        page = sign_in(browser, dashboard, "reader", width)
        for name, column in (("income", "income"), ("hostile", HOSTILE),
                             ("slashed", SLASHED), ("score", "proba")):  # fmt: skip
            page.goto(feature_url(dashboard, column))
            assert charts_drawn(page) >= 6
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shoot(page, f"feature-{name}-{width}")
        page.context.close()
