"""The windows list, one window's page (its report in a sandboxed frame, the records rejected
while it was open) and the quarantine page, in chromium and over plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, shoot, sign_in
from tests.service.ui.replay import HOSTILE, SPEC, reference_parquet

from vigil.report.html import render_html
from vigil.report.json import read_report

OWN = "windows-own"
BAD_FIELD = "<script>alert(3)</script>"  # a record's unknown field: its rejection names it
BAD_VALUE = '<img src=z onerror="alert(4)">'  # a value where a number belongs


@pytest.fixture(scope="module")
def own(dashboard: Dashboard) -> Iterator[dict[str, Any]]:
    """A model with rows in the window holding now, and two rejected records there."""
    api = dashboard.api
    assert api.post("/v1/models", json={"name": OWN, "version": "1", "spec": SPEC}).is_success
    r = api.put(
        f"/v1/models/{OWN}/reference",
        params={"version": "1"},
        content=reference_parquet(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200, r.text
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    window_start = now.replace(hour=now.hour - now.hour % 6, minute=0, second=0)
    stamp = (window_start + timedelta(seconds=1)).isoformat() + "Z"
    good = [
        {"id": f"ok-{i}", "timestamp": stamp, "model_version": "1",
         "features": {"income": 40_000.0 + i, "age": 30.0 + i % 20}, "prediction": "0"}
        for i in range(30)
    ]  # fmt: skip
    bad = [
        {"id": "bad-field", "timestamp": stamp, "features": {"income": 1.0}, BAD_FIELD: 1},
        {"id": "bad-value", "timestamp": stamp, "features": {"income": BAD_VALUE}},
    ]
    r = api.post(f"/v1/models/{OWN}/predictions", json={"records": good + bad})
    assert r.status_code == 200 and len(r.json()["rejected"]) == 2, r.text
    yield {"start": window_start}


def windows_of(dashboard: Dashboard, model: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard.get(
        f"/v1/models/{model}/windows", params={"limit": 10_000, **params}
    ).json()["windows"]
    return found


def page_path(model: str, version: str, start: str) -> str:
    return f"/models/{model}/windows/{quote(version)}/tumbling/{quote(start)}"


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_windows_list_shows_the_range_newest_first_with_states_and_statuses(
    browser: Any, dashboard: Dashboard, width: int
) -> None:
    page = sign_in(browser, dashboard, "reader", width)
    page.goto(f"{dashboard.url}/models/{MODEL}/windows?last=all")
    rows = page.locator("table.windows tbody tr")
    stored = windows_of(dashboard, MODEL)
    assert rows.count() == len(stored)
    starts = [rows.nth(i).get_attribute("data-start") for i in range(rows.count())]
    assert starts == sorted(starts, reverse=True)
    assert set(starts) == {w["start"] for w in stored}
    statuses = page.locator("table.windows tbody tr td:nth-child(4)").all_inner_texts()
    assert "critical" in statuses and "ok" in statuses  # before and after the change
    # the default range is the last 7 days of windows: 28 per version
    page.goto(f"{dashboard.url}/models/{MODEL}/windows?version=1")
    assert page.locator("table.windows tbody tr").count() == 28
    versions = page.locator("table.windows tbody tr td:nth-child(2)").all_inner_texts()
    assert set(versions) == {"1"}
    shoot(page, f"windows-{width}")
    page.locator("table.windows tbody tr a").first.click()
    page.wait_for_url("**/models/credit/windows/1/tumbling/**")
    assert page.locator("iframe.report").count() == 1
    page.context.close()


@pytest.mark.parametrize("width", [1280, 1920])
def test_a_window_page_shows_its_report_in_a_frame_with_hostile_names_as_text(
    browser: Any, dashboard: Dashboard, width: int
) -> None:
    latest = windows_of(dashboard, MODEL, version="1")[0]
    report = dashboard.get(f"/v1/models/{MODEL}/windows/1/tumbling/{latest['start']}/report").json()
    page = sign_in(browser, dashboard, "reader", width)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(dashboard.url + page_path(MODEL, "1", latest["start"]))
    assert page.locator(".status").first.inner_text() == report["status"]
    frame = page.frame_locator("iframe.report")
    frame.locator("h1").wait_for()
    assert report["status"] in frame.locator("h1").inner_text().lower()
    assert frame.locator("#summary").count() == 1
    # the drifted hostile feature is named in the report, as text
    assert report["drift"]["columns"][HOSTILE]["drifted"]
    assert frame.locator("text=<img src=x").count() >= 1
    assert frame.locator("img[src=x]").count() == 0
    assert page.locator("iframe.report").get_attribute("sandbox") == ""
    page.wait_for_timeout(200)
    assert not dialogs
    shoot(page, f"window-{width}")
    page.context.close()


def test_the_report_is_served_with_its_own_policy_and_is_the_stored_reports_page(
    dashboard: Dashboard,
) -> None:
    latest = windows_of(dashboard, MODEL, version="2")[0]
    with httpx.Client(base_url=dashboard.url) as person:
        person.post("/signin", data={"token": TOKENS["reader"], "next": "/"})
        r = person.get(page_path(MODEL, "2", latest["start"]) + "/report.html")
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        assert "script-src" not in policy and "default-src 'none'" in policy
        assert "frame-ancestors 'self'" in policy and r.headers["x-frame-options"] == "SAMEORIGIN"
        stored = dashboard.get(f"/v1/models/{MODEL}/windows/2/tumbling/{latest['start']}/report")
        assert r.text == render_html(read_report(stored.text))
        # the dashboard's own page keeps its strict policy and may not be framed
        own = person.get(page_path(MODEL, "2", latest["start"]))
        assert "frame-ancestors 'none'" in own.headers["content-security-policy"]


def test_records_rejected_while_a_window_was_open_show_their_reasons_as_text(
    browser: Any, dashboard: Dashboard, own: dict[str, Any]
) -> None:
    start = own["start"].isoformat() + "Z"
    page = sign_in(browser, dashboard, "reader")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(dashboard.url + page_path(OWN, "1", start))
    rows = page.locator("table.quarantine tbody tr")
    assert rows.count() == 2
    reasons = page.locator("ul.reasons").all_inner_texts()
    assert any(BAD_FIELD in r and "unknown field" in r for r in reasons)
    assert any("features.income" in r for r in reasons)
    assert page.locator("script", has_text="alert(3)").count() == 0
    assert page.locator("text=has no report").count() == 1  # not computed yet: no frame
    assert page.locator("iframe.report").count() == 0
    page.locator("table.quarantine details summary").nth(1).click()
    assert json.dumps(BAD_VALUE) in page.locator("pre.payload").nth(1).inner_text()
    assert page.locator("img[src=z]").count() == 0
    shoot(page, "window-quarantine-1280")
    # the quarantine page of the default range shows them too
    page.goto(f"{dashboard.url}/models/{OWN}/quarantine")
    assert page.locator("table.quarantine tbody tr").count() == 2
    assert page.locator("ul.reasons", has_text=BAD_FIELD).count() == 1
    shoot(page, "quarantine-1280")
    assert not dialogs
    page.context.close()


def test_hostile_window_addresses_get_a_clear_4xx_page_never_a_5xx(
    dashboard: Dashboard, own: dict[str, Any]
) -> None:
    start = windows_of(dashboard, MODEL, version="1")[0]["start"]
    with httpx.Client(base_url=dashboard.url) as person:
        person.post("/signin", data={"token": TOKENS["reader"], "next": "/"})
        for path, status in [
            (page_path(MODEL, "1", "not-a-time"), 422),
            (page_path(MODEL, "1", "9" * 400), 422),
            (page_path(MODEL, "1", "2001-01-01T00:00:00Z"), 404),  # no window then
            (page_path(MODEL, "1", "2001-01-01T00:00:00Z") + "/report.html", 404),
            (page_path(MODEL, "7", start), 404),
            (page_path(MODEL, HOSTILE, start), 404),
            (f"/models/{MODEL}/windows/1/sliding/{quote(start)}", 404),
            (f"/models/no-such-model/windows/1/tumbling/{quote(start)}", 404),
            (page_path(OWN, "1", own["start"].isoformat() + "Z") + "/report.html", 404),
            (f"/models/{MODEL}/windows?version=9", 404),
            (f"/models/{MODEL}/windows?last=forever", 422),
            (f"/models/{MODEL}/windows?since=soon", 422),
            (f"/models/{MODEL}/windows?step=" + "x" * 5000, 422),
            (f"/models/{MODEL}/quarantine?until=2001-01-01T00:00Z&since=2002-01-01T00:00Z", 422),
            (f"/models/{MODEL}/quarantine?last=%3Cscript%3E", 422),
            ("/models/no-such-model/quarantine", 404),
        ]:
            r = person.get(path)
            assert r.status_code == status, (path, r.status_code, r.text[-300:])
            assert "<script>" not in r.text.split("<main>")[-1]
        # without a session: the sign-in form, for the report too
        with httpx.Client(base_url=dashboard.url) as nobody:
            r = nobody.get(page_path(MODEL, "1", start) + "/report.html")
            assert r.status_code == 303 and r.headers["location"].startswith("/signin")
