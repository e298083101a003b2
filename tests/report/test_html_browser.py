"""The HTML report in a real browser: Chromium through Playwright, at 1,280 and 1,920 px.

What is asserted is what a reader would see: nothing sticks out of its card, the page does
not scroll sideways, chart labels are drawn inside their chart, categories run from the
reference's most common down, every performance metric carries its status, and the page asks
the network for nothing. Chromium comes from Debian and Playwright from the dev extra
(`scripts/setup` installs both); without them these tests fail, saying so — they are part of
what CI must run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api  # the dev extra; scripts/setup installs it

from vigil.report import render_html
from vigil.report.model import Report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (1280, 1920)
REPORTS = ("credit_report", "pending_report", "wide_report", "multiclass_report")
# The page is served from a name that cannot resolve (RFC 2606), so that every request it
# makes goes through the route below, which records it and answers nothing.
ORIGIN = "http://vigil.invalid"
SLACK = 0.5  # px: sub-pixel rounding of layout boxes


class Opened:
    """A report open in a browser tab, and every request the tab made besides the page."""

    def __init__(self, browser: Any, html: str, width: int) -> None:
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.route("**/*", lambda route: self._answer(route, html))
        self.page.goto(f"{ORIGIN}/report.html")

    def _answer(self, route: Any, html: str) -> None:
        if route.request.url == f"{ORIGIN}/report.html":
            route.fulfill(status=200, body=html, content_type="text/html; charset=utf-8")
        else:
            self.requests.append(route.request.url)
            route.abort()

    def js(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: run scripts/setup"
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def open_report(
    browser: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[[str, int], Opened]]:
    opened: dict[tuple[str, int], Opened] = {}

    def get(name: str, width: int) -> Opened:
        if (name, width) not in opened:
            report: Report = request.getfixturevalue(name)
            opened[name, width] = Opened(browser, render_html(report), width)
        return opened[name, width]

    yield get
    for o in opened.values():
        o.page.close()


# Elements (and their section) whose box reaches past their section's box.
OUTSIDE_SECTION = """(slack) => {
  const out = [];
  for (const section of document.querySelectorAll('section')) {
    const s = section.getBoundingClientRect();
    for (const el of section.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < s.left - slack || r.right > s.right + slack)
        out.push(section.id + ' ' + el.tagName + ' ' + (el.textContent || '').slice(0, 60)
                 + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + '] in ['
                 + Math.round(s.left) + ', ' + Math.round(s.right) + ']');
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_nothing_sticks_out_of_its_card_and_the_page_does_not_scroll_sideways(
    open_report: Callable[[str, int], Opened], name: str, width: int
) -> None:
    o = open_report(name, width)
    assert o.js("document.documentElement.scrollWidth") <= o.js("window.innerWidth")
    assert o.js(OUTSIDE_SECTION, SLACK) == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_every_drift_table_cell_is_inside_the_drift_section_and_shows_all_its_text(
    open_report: Callable[[str, int], Opened], name: str, width: int
) -> None:
    o = open_report(name, width)
    cells = o.js(
        """() => {
      const s = document.querySelector('section#drift').getBoundingClientRect();
      return [...document.querySelectorAll('section#drift td, section#drift th')].map(c => {
        const r = c.getBoundingClientRect();
        return {text: c.textContent.trim().slice(0, 60), left: r.left, right: r.right,
                top: r.top, bottom: r.bottom, inside: r.left >= s.left && r.right <= s.right
                && r.top >= s.top && r.bottom <= s.bottom, clipped: c.scrollWidth > c.clientWidth};
      });
    }"""
    )
    assert len(cells) > 9  # a header row and at least one column
    assert [c for c in cells if not c["inside"]] == []
    assert [c["text"] for c in cells if c["clipped"]] == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_no_table_cell_spills_its_text_over_its_neighbours(
    open_report: Callable[[str, int], Opened], name: str, width: int
) -> None:
    o = open_report(name, width)
    spilled = o.js(
        """() => [...document.querySelectorAll('section td, section th')]
      .filter(c => c.getBoundingClientRect().width > 0 && c.scrollWidth > c.clientWidth + 1)
      .map(c => c.closest('section').id + ': ' + c.textContent.trim().slice(0, 60))"""
    )
    assert spilled == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_chart_axis_labels_are_drawn_inside_their_chart(
    open_report: Callable[[str, int], Opened], name: str, width: int
) -> None:
    o = open_report(name, width)
    charts = o.js(
        """() => [...document.querySelectorAll('svg.chart')].map(svg => {
      const box = svg.getBoundingClientRect();
      const texts = [...svg.querySelectorAll('text')].map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, cls: t.getAttribute('class') || '',
                inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5
                        && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5,
                width: r.width};
      });
      return {kind: svg.dataset.kind, title: svg.getAttribute('aria-label'), texts};
    })"""
    )
    assert charts
    for chart in charts:
        texts = chart["texts"]
        outside = [t["text"] for t in texts if not t["inside"] or t["width"] == 0]
        assert outside == [], chart["title"]
        percent_axis = "axis-y" if chart["kind"] == "histogram" else "axis-x"
        ticks = [t["text"] for t in texts if percent_axis in t["cls"].split()]
        assert len(ticks) >= 2 and all(t.endswith("%") for t in ticks), chart["title"]
        if chart["kind"] == "histogram":
            edges = [t["text"] for t in texts if "axis-x" in t["cls"].split()]
            assert len(edges) >= 2 and not any("…" in e for e in edges), chart["title"]
        else:
            assert [t for t in texts if "category" in t["cls"].split()], chart["title"]


@pytest.mark.parametrize("name", ["credit_report", "wide_report", "multiclass_report"])
def test_categories_run_from_the_most_common_in_the_reference(
    open_report: Callable[[str, int], Opened], name: str, request: pytest.FixtureRequest
) -> None:
    o = open_report(name, 1280)
    charts = o.js(
        """() => [...document.querySelectorAll('svg.chart[data-kind="category"]')].map(svg =>
      [...svg.querySelectorAll('rect.reference')].map(r => {
        const b = r.getBoundingClientRect();
        return {top: b.top, width: b.width, label: r.dataset.label};
      }))"""
    )
    assert charts
    report: Report = request.getfixturevalue(name)
    has_other = False
    for bars in charts:
        bars.sort(key=lambda b: b["top"])
        if bars[-1]["label"] == "(other)":
            has_other = True
            bars = bars[:-1]
        widths = [b["width"] for b in bars]
        assert widths == sorted(widths, reverse=True), [b["label"] for b in bars]
    # the wide report's 30 categories are cut after the chart's 20: the rest is "(other)"
    assert has_other or name != "wide_report"
    shown = sum(
        c.distribution is not None and c.distribution.edges is None
        for c in report.drift.columns.values()
    )
    assert len(charts) == shown


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_every_performance_metric_shows_its_status(
    open_report: Callable[[str, int], Opened],
    name: str,
    width: int,
    request: pytest.FixtureRequest,
) -> None:
    report: Report = request.getfixturevalue(name)
    o = open_report(name, width)
    rows = o.js(
        """() => [...document.querySelectorAll('#metrics tbody tr')].map(tr => {
      const badge = tr.querySelector('.badge');
      const b = badge ? badge.getBoundingClientRect() : null;
      return {metric: tr.dataset.metric, badge: badge ? badge.textContent.trim() : null,
              visible: !!b && b.width > 0 && b.height > 0,
              background: badge ? getComputedStyle(badge).backgroundColor : null,
              better: tr.querySelector('.better').textContent.trim()};
    })"""
    )
    assert report.performance is not None
    assert len(rows) >= len(report.performance.changes) and rows
    for row in rows:
        assert row["visible"], row
        check = report.check(f"performance.{row['metric']}")
        assert row["badge"] == (check.status if check is not None else "not judged")
    checked = {
        c.name.removeprefix("performance.")
        for c in report.checks
        if c.name.startswith("performance.")
    }
    assert checked and checked <= {r["metric"] for r in rows}  # no checked metric left out
    assert all(r["better"] in ("higher", "lower", "—") for r in rows)
    assert any(r["better"] == "lower" for r in rows)  # log loss, or an error metric


def test_findings_past_the_first_unfold_without_a_script(
    open_report: Callable[[str, int], Opened], request: pytest.FixtureRequest
) -> None:
    report: Report = request.getfixturevalue("wide_report")
    failed = sum(c.status != "ok" for c in report.checks)
    o = open_report("wide_report", 1280)
    shown = """() => [...document.querySelectorAll('#checks tbody tr')]
        .filter(r => r.offsetHeight > 0).length"""
    first = o.js(shown)
    assert 0 < first < failed  # the wide report has more findings than are listed at first
    o.page.click("label.more")
    assert o.js(shown) == failed
    assert o.js("document.documentElement.scrollWidth") <= o.js("window.innerWidth")
    assert o.js(OUTSIDE_SECTION, SLACK) == []
    o.page.click("label.more")
    assert o.js(shown) == first


def test_each_status_badge_has_its_own_colour(
    open_report: Callable[[str, int], Opened],
) -> None:
    o = open_report("pending_report", 1280)
    colours = o.js(
        """() => ['ok', 'pending', 'warning', 'critical', 'none'].map(s => {
      const span = document.createElement('span');
      span.className = 'badge ' + s;
      document.body.appendChild(span);
      const colour = getComputedStyle(span).backgroundColor;
      span.remove();
      return colour;
    })"""
    )
    assert len(set(colours)) == 5, colours
    assert "rgba(0, 0, 0, 0)" not in colours  # each is painted, none left transparent


@pytest.mark.parametrize("name", REPORTS)
def test_the_page_makes_no_network_request(
    open_report: Callable[[str, int], Opened], browser: Any, name: str
) -> None:
    canary = Opened(
        browser, '<img src="https://example.org/x.png"><link rel=stylesheet href=s.css>', 1280
    )
    try:
        assert len(canary.requests) == 2  # the recording sees what a page asks for
    finally:
        canary.page.close()
    o = open_report(name, 1280)
    o.page.mouse.wheel(0, 100_000)  # anything loaded lazily would load now
    o.page.wait_for_load_state("networkidle")
    assert o.requests == []
