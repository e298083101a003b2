"""The alerts page in chromium: the timeline and the table of the replayed model, hostile names
shown as text, filters in the URL; and the buttons, which act on a model of this module's own
(`own`: four days, drift from the third) so the shared replay's alerts stay as they were."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, charts_drawn, shoot, sign_in
from tests.service.ui.replay import HOSTILE, SLASHED, SPEC, _rows, reference_parquet

OWN = "alerts-own"
SCORE = '<img src=y onerror="alert(8)">score'  # the own model's score column: its drift alerts
OWN_SPEC = {
    **SPEC,
    "columns": {
        (SCORE if name == "proba" else name): role for name, role in SPEC["columns"].items()
    },
}
NOTE = "<b>not</b> a real drift & a <script>alert(5)</script> note"


def own_reference() -> bytes:
    """The replay's reference with the score column under its hostile name."""
    table = pq.read_table(io.BytesIO(reference_parquet()))
    table = table.rename_columns([SCORE if n == "proba" else n for n in table.column_names])
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def post_short_story(api: httpx.Client, model: str, start: Any) -> None:
    """Four days of 6-hour windows, the inputs moving from the third day: enough for the
    default drift rules to open alerts, the score's under its hostile name."""
    for version in ("2", "1"):  # two versions: each drifting column alerts once per version
        r = api.post("/v1/models", json={"name": model, "version": version, "spec": OWN_SPEC})
        assert r.status_code in (200, 201), r.text
        r = api.put(
            f"/v1/models/{model}/reference",
            params={"version": version},
            content=own_reference(),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 200, r.text
    rng = np.random.default_rng(11)
    for day in range(4):
        records = []
        for w in range(4):
            base = start + timedelta(days=day, hours=6 * w)
            rows = _rows(rng, 200, changed=day >= 2)
            for i in range(200):
                records.append(
                    {
                        "id": f"{model}-{day}-{w}-{i}",
                        "timestamp": (base + timedelta(seconds=i * 100)).isoformat() + "Z",
                        "model_version": "1" if i % 2 else "2",
                        "features": {
                            n: (str(rows[n][i]) if n == SLASHED else float(rows[n][i]))
                            for n in ("income", "age", HOSTILE, SLASHED)
                        },
                        "prediction": str(rows["pred"][i]),
                        "score": float(rows["proba"][i]),
                        "segments": {"region": str(rows["region"][i])},
                    }
                )
        r = api.post(f"/v1/models/{model}/predictions", json={"records": records})
        assert r.status_code == 200 and not r.json().get("rejected"), r.text[:300]
        assert api.post(f"/v1/models/{model}/evaluate").status_code == 200


@pytest.fixture(scope="module")
def own(dashboard: Dashboard) -> Iterator[list[dict[str, Any]]]:
    """This module's model and its alerts as the API lists them (firing first)."""
    post_short_story(dashboard.api, OWN, dashboard.start + timedelta(days=10))
    alerts = dashboard.api.get(f"/v1/models/{OWN}/alerts", params={"limit": 1000}).json()
    firing = [a for a in alerts["alerts"] if a["status"] == "firing"]
    assert len(firing) >= 6, alerts
    yield firing


@contextmanager
def session(dashboard: Dashboard, who: str) -> Iterator[httpx.Client]:
    """A client signed in through the form, as a browser would be (no redirects followed)."""
    with httpx.Client(base_url=dashboard.url, timeout=30) as client:
        r = client.post("/signin", data={"token": TOKENS[who], "next": "/"})
        assert r.status_code == 303
        yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    text = client.get(path).text
    marker = 'name="csrf" value="'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]


def alert_of(dashboard: Dashboard, alert_id: str) -> dict[str, Any]:
    found: dict[str, Any] = dashboard.api.get(f"/v1/alerts/{alert_id}").json()
    return found


# -- what a person sees ------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_alerts_page_draws_a_timeline_and_lists_alerts_with_hostile_names_as_text(
    browser: Any, dashboard: Dashboard, width: int
) -> None:
    page = sign_in(browser, dashboard, "admin", width)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{dashboard.url}/models/{MODEL}/alerts?last=all")
    assert charts_drawn(page) == 1
    timeline = page.locator("[data-chart=alert-timeline]")
    assert timeline.get_attribute("data-drawn") == "true"
    rows = page.locator("tr[data-alert]")
    every = dashboard.get(f"/v1/models/{MODEL}/alerts", params={"limit": 1000}).json()["alerts"]
    assert rows.count() == len(every) >= 3
    # the timeline has a row per rule and column
    names = page.evaluate(
        "() => document.querySelector('[data-chart=alert-timeline]').vigilChart"
        ".getOption().yAxis[0].data"
    )
    expected = {a["rule"] + (f" · {a['column']}" if a["column"] else "") for a in every}
    assert sorted(names) == sorted(expected)
    # a firing critical alert is drawn red: read the pixel in the middle of its bar
    spec = page.evaluate("() => JSON.parse(document.getElementById('alert-timeline').textContent)")
    red = [it for it in spec["items"] if it[3] == "critical"]
    assert red, spec["items"][:3]
    row, start, end = red[0][0], red[0][1], red[0][2]
    x, y = page.evaluate(
        "([row, t]) => document.querySelector('[data-chart=alert-timeline]').vigilChart"
        ".convertToPixel({seriesIndex: 0}, [t, row])",
        [row, (start + end) / 2],
    )
    rgba = page.evaluate(
        "([x, y]) => { const c = document.querySelector('[data-chart=alert-timeline] canvas');"
        " const r = window.devicePixelRatio;"
        " return Array.from(c.getContext('2d').getImageData(x * r, y * r, 1, 1).data); }",
        [x, y],
    )
    assert rgba[0] > 150 and rgba[1] < 80 and rgba[2] < 80, rgba  # #c62828
    assert not dialogs
    shoot(page, f"alerts-{width}")
    page.context.close()


def test_filters_are_in_the_url_and_narrow_the_table(browser: Any, dashboard: Dashboard) -> None:
    every = dashboard.get(f"/v1/models/{MODEL}/alerts", params={"limit": 1000}).json()["alerts"]
    rules = sorted({a["rule"] for a in every})
    page = sign_in(browser, dashboard)
    page.goto(f"{dashboard.url}/models/{MODEL}/alerts?last=all")
    page.select_option("select[name=severity]", "critical")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**severity=critical**")
    assert "last=all" in page.url
    badges = page.locator("tr[data-alert] td:first-child").all_inner_texts()
    assert badges and all("critical" in b for b in badges)
    page.goto(f"{dashboard.url}/models/{MODEL}/alerts?last=all&rule={rules[0]}")
    shown = page.locator("tr[data-alert] td:nth-child(2)").all_inner_texts()
    assert shown and all(s.startswith(rules[0]) for s in shown)
    expected = sum(1 for a in every if a["rule"] == rules[0])
    assert len(shown) == expected
    page.goto(f"{dashboard.url}/models/{MODEL}/alerts?last=all&status=pending&rule=no-such-rule")
    assert page.locator("tr[data-alert]").count() == 0
    assert "matching these filters" in page.inner_text("main")
    page.context.close()


def test_a_hostile_column_name_shows_as_text_in_the_table_and_the_timeline(
    browser: Any, dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    assert any(a["column"] == SCORE for a in own)
    page = sign_in(browser, dashboard, "admin")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{dashboard.url}/models/{OWN}/alerts?last=all")
    assert charts_drawn(page) == 1
    assert page.locator("tr[data-alert]", has_text=SCORE).count() >= 1
    assert page.locator("text=<img src=y").count() >= 1
    assert page.locator("img[src=y]").count() == 0
    names = page.evaluate(
        "() => document.querySelector('[data-chart=alert-timeline]').vigilChart"
        ".getOption().yAxis[0].data"
    )
    assert f"default.score-drift · {SCORE}" in names
    shoot(page, "alerts-own-hostile-1280")
    # the silence form is prefilled with the name as it is, not as markup
    row = page.locator("tr[data-alert]", has_text=SCORE).first
    row.locator("details.silence-form summary").click()
    assert row.locator("input[name=column]").input_value() == SCORE
    assert not dialogs
    page.context.close()


# -- the buttons -------------------------------------------------------------------------------


def test_acknowledging_shows_who_acked(
    browser: Any, dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    target = own[0]["id"]
    page = sign_in(browser, dashboard, "admin")
    page.goto(f"{dashboard.url}/models/{OWN}/alerts?last=all&status=firing")
    row = page.locator(f"tr[data-alert='{target}']")
    assert row.locator("td.acked").inner_text() == "–"
    row.locator("button.ack").click()
    page.wait_for_url("**done=acknowledged**")
    assert "status=firing" in page.url and "last=all" in page.url  # the view it came from
    assert page.inner_text("#done") == "The alert is acknowledged."
    row = page.locator(f"tr[data-alert='{target}']")
    assert row.locator("td.acked").inner_text().startswith("by admin")
    assert row.locator("button.ack").is_disabled()
    assert alert_of(dashboard, target)["acked_by"] == "admin"
    page.context.close()


def test_marking_a_false_positive_shows_the_verdict_its_note_and_the_rule_precision(
    browser: Any, dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    target = own[1]
    page = sign_in(browser, dashboard, "admin")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{dashboard.url}/models/{OWN}/alerts?last=all")
    row = page.locator(f"tr[data-alert='{target['id']}']")
    row.locator("details.verdict-form summary").click()
    row.locator("details.verdict-form input[name=note]").fill(NOTE)
    row.locator("button[value=false_positive]").click()
    page.wait_for_url("**done=false_positive**")
    row = page.locator(f"tr[data-alert='{target['id']}']")
    assert "false positive" in row.locator("td.verdict").inner_text()
    assert row.locator("td.verdict .note").inner_text() == NOTE  # as text, not markup
    precision = page.locator(f"table.precision tr[data-rule='{target['rule']}']")
    cells = precision.locator("td").all_inner_texts()
    assert cells[2] != "0" and cells[3] != "–"
    stored = alert_of(dashboard, target["id"])
    assert (stored["verdict"], stored["verdict_note"], stored["verdict_by"]) == (
        "false_positive",
        NOTE,
        "admin",
    )
    assert not dialogs
    page.context.close()


def test_a_silence_made_from_an_alert_appears_and_its_delete_removes_it(
    browser: Any, dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    target = next(a for a in own[2:] if a["column"])  # a silence on one column of a rule
    comment = "deploy <i>window</i> & friends"
    page = sign_in(browser, dashboard, "admin", 1920)
    page.goto(f"{dashboard.url}/models/{OWN}/alerts?last=all")
    row = page.locator(f"tr[data-alert='{target['id']}']")
    row.locator("details.silence-form summary").click()
    form = row.locator("details.silence-form form")
    assert form.locator("input[name=rule]").input_value() == target["rule"]
    assert form.locator("input[name=model]").input_value() == OWN
    assert form.locator("input[name=column]").input_value() == target["column"]
    form.locator("select[name=duration]").select_option("4h")
    form.locator("input[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()
    page.wait_for_url("**done=silenced**")
    made = [
        s
        for s in dashboard.get("/v1/silences").json()["silences"]
        if s["comment"] == comment and s["matchers"].get("model") == OWN
    ]
    assert len(made) == 1
    silence = made[0]
    assert silence["matchers"] == {"rule": target["rule"], "model": OWN, "column": target["column"]}
    assert silence["created_by"] == "admin" and silence["state"] == "active"
    listed = page.locator(f"tr[data-silence='{silence['id']}']")
    assert comment in listed.inner_text()
    assert target["rule"] in listed.inner_text()
    shoot(page, "alerts-silenced-1920")
    page.once("dialog", lambda d: d.accept())  # "Delete this silence?"
    listed.locator("button.delete").click()
    page.wait_for_url("**done=unsilenced**")
    assert page.locator(f"tr[data-silence='{silence['id']}']").count() == 0
    ids = {s["id"] for s in dashboard.get("/v1/silences").json()["silences"]}
    assert silence["id"] not in ids
    page.context.close()


def test_a_reader_sees_the_buttons_disabled_and_a_note(
    browser: Any, dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    page = sign_in(browser, dashboard, "reader")
    page.goto(f"{dashboard.url}/models/{OWN}/alerts?last=all")
    assert "may only read" in page.inner_text("#read-only")
    buttons = page.locator("tr[data-alert] button")
    assert buttons.count() >= 4 * len(own)  # acknowledge, true, false, silence per row
    assert all(buttons.nth(i).is_disabled() for i in range(buttons.count()))
    shoot(page, "alerts-reader-1280")
    page.context.close()


# -- refusals over plain HTTP ------------------------------------------------------------------


def test_buttons_refuse_readers_missing_or_wrong_tokens_and_other_sites(
    dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    target = own[3]["id"]
    ack = f"/models/{OWN}/alerts/{target}/ack"
    # (a write-only token cannot sign in to the dashboard: its pages need `read`; admin acts)
    with session(dashboard, "reader") as reader, session(dashboard, "admin") as writer:
        token = csrf_of(writer, f"/models/{OWN}/alerts")
        reader_token = csrf_of(reader, f"/models/{OWN}/alerts")
        assert reader.post(ack, data={"csrf": reader_token}).status_code == 403
        assert writer.post(ack, data={"back": "last=all"}).status_code == 403  # no token
        assert writer.post(ack, data={"csrf": "0" * 64}).status_code == 403
        assert writer.post(ack, data={"csrf": reader_token}).status_code == 403
        foreign = {"origin": "https://evil.example"}
        assert writer.post(ack, data={"csrf": token}, headers=foreign).status_code == 403
        cross = {"sec-fetch-site": "cross-site"}
        assert writer.post(ack, data={"csrf": token}, headers=cross).status_code == 403
        silences = f"/models/{OWN}/silences"
        body = {"csrf": token, "rule": "x", "duration": "1h"}
        assert writer.post(silences, data=body, headers=foreign).status_code == 403
        assert reader.post(silences, data={**body, "csrf": reader_token}).status_code == 403
        with httpx.Client(base_url=dashboard.url) as nobody:
            r = nobody.post(ack, data={"csrf": token})
            assert r.status_code == 401 and 'name="token"' in r.text
        assert alert_of(dashboard, target)["acked_at"] is None  # nothing went through
        # the same form with its token, from this site, works
        r = writer.post(ack, data={"csrf": token, "back": "last=all"})
        assert r.status_code == 303
        assert r.headers["location"] == f"/models/{OWN}/alerts?last=all&done=acknowledged"
        assert alert_of(dashboard, target)["acked_by"] == "admin"


def test_hostile_input_gets_a_clear_4xx_page_never_a_5xx(
    dashboard: Dashboard, own: list[dict[str, Any]]
) -> None:
    with session(dashboard, "admin") as admin:
        page = f"/models/{OWN}/alerts"
        for query, status in [
            ({"status": "burning"}, 422),
            ({"severity": "mild"}, 422),
            ({"rule": "r" * 1001}, 422),
            ({"rule": "a\x00b"}, 422),
            ({"last": "1y"}, 422),
            ({"since": "yesterday"}, 422),
            ({"step": "<b>"}, 422),
            ({"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}, 422),
        ]:
            r = admin.get(page, params=query)
            assert r.status_code == status, (query, r.status_code)
            assert "<b>" not in r.text.split("<main>")[1]
        assert admin.get("/models/no-such-model/alerts").status_code == 404
        assert admin.get(f"/models/{HOSTILE}/alerts").status_code == 404
        r = admin.get(page, params={"done": "<script>alert(6)</script>"})
        assert r.status_code == 200 and "alert(6)" not in r.text
        token = csrf_of(admin, page)
        other = dashboard.get(f"/v1/models/{MODEL}/alerts").json()["alerts"][0]["id"]
        posts = [
            (f"{page}/{'z' * 32}/ack", {}, 404),
            (f"{page}/{'0' * 32}/ack", {}, 404),
            (f"{page}/{other}/ack", {}, 404),  # an alert of another model
            (f"/models/no-such-model/alerts/{own[0]['id']}/ack", {}, 404),
            (f"{page}/{own[0]['id']}/verdict", {"verdict": "maybe"}, 422),
            (
                f"{page}/{own[0]['id']}/verdict",
                {"verdict": "true_positive", "note": "n" * 10_001},
                422,
            ),
            (f"/models/{OWN}/silences", {"rule": "x"}, 422),  # no duration
            (f"/models/{OWN}/silences", {"rule": "x", "duration": "400d"}, 422),
            (f"/models/{OWN}/silences", {"rule": "x", "duration": "soon"}, 422),
            (f"/models/{OWN}/silences", {"duration": "1h"}, 422),  # no matcher
            (f"/models/{OWN}/silences", {"rule": "x" * 1001, "duration": "1h"}, 422),
            (f"/models/{OWN}/silences/{'0' * 32}/delete", {}, 404),
            (f"/models/{OWN}/silences/not-an-id/delete", {}, 404),
        ]
        for path, fields, status in posts:
            r = admin.post(path, data={"csrf": token, **fields})
            assert r.status_code == status, (path, fields, r.status_code, r.text[-300:])
        ack = f"{page}/{own[0]['id']}/ack"
        r = admin.post(ack, content=b"csrf=" + token.encode() + b"&x=\xff", headers=_FORM)
        assert r.status_code == 400
        r = admin.post(ack, content=b"csrf=" + token.encode() + b"&x=%00", headers=_FORM)
        assert r.status_code == 400
        r = admin.post(ack, content=b"x=" + b"a" * 20_000, headers=_FORM)
        assert r.status_code == 413
        r = admin.post(ack, json={"csrf": token})
        assert r.status_code == 415
        assert alert_of(dashboard, own[0]["id"])["verdict"] is None


_FORM = {"content-type": "application/x-www-form-urlencoded"}
