"""Signing in to the dashboard, the session cookie, scopes and forms from other sites."""

from __future__ import annotations

import httpx
from tests.service.conftest import TOKENS
from tests.service.ui.conftest import MODEL, Dashboard, sign_in

from vigil.service.ui.session import COOKIE, next_path


def test_a_page_without_a_session_sends_to_the_sign_in_form(dashboard: Dashboard) -> None:
    with httpx.Client(base_url=dashboard.url) as anonymous:
        r = anonymous.get("/?last=7d")
        assert r.status_code == 303
        assert r.headers["location"] == "/signin?next=%2F%3Flast%3D7d"
        form = anonymous.get("/signin")
        assert form.status_code == 200 and 'name="token"' in form.text


def test_signing_in_sets_an_http_only_strict_cookie_and_goes_where_asked(
    dashboard: Dashboard,
) -> None:
    with httpx.Client(base_url=dashboard.url) as person:
        r = person.post("/signin", data={"token": TOKENS["reader"], "next": "/"})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        home = person.get("/")
        assert home.status_code == 200
        assert "signed in as <b>reader</b>" in home.text
        assert home.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_wrong_token_is_told_and_sets_no_cookie(dashboard: Dashboard) -> None:
    with httpx.Client(base_url=dashboard.url) as person:
        r = person.post("/signin", data={"token": "not-a-token", "next": "/"})
        assert r.status_code == 401
        assert "not known to this service" in r.text
        assert "set-cookie" not in r.headers


def test_a_hostile_sign_in_form_is_a_clear_4xx_and_sets_no_cookie(dashboard: Dashboard) -> None:
    cases = [
        ({"content-type": "application/json"}, b'{"token": "x"}', 415),
        ({"content-type": "application/x-www-form-urlencoded"}, b"token=" + b"a" * 20_000, 413),
        ({"content-type": "application/x-www-form-urlencoded"}, b"token=%ff%fe", 400),
        ({"content-type": "application/x-www-form-urlencoded"}, b"token=a%00b", 400),
        ({"content-type": "application/x-www-form-urlencoded"}, b"", 401),  # no token at all
    ]
    with httpx.Client(base_url=dashboard.url) as person:
        for headers, body, status in cases:
            r = person.post("/signin", content=body, headers=headers)
            assert r.status_code == status, (body[:30], r.status_code, r.text[:200])
            assert "set-cookie" not in r.headers
            assert r.headers["content-type"].startswith("text/html")


def test_a_forged_or_damaged_cookie_is_a_new_sign_in(dashboard: Dashboard) -> None:
    for value in ("v1.YWRtaW4.99999999999.00", "garbage", "v1.%%%.1.2", "v1.YWRtaW4.x.y"):
        with httpx.Client(base_url=dashboard.url, cookies={COOKIE: value}) as person:
            r = person.get("/")
            assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_sign_in_never_sends_to_another_site() -> None:
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x",
                    "/ok\r\nSet-Cookie: x=1"):  # fmt: skip
        assert next_path(hostile) == "/"
    assert next_path("/models/credit?last=7d") == "/models/credit?last=7d"


def test_signing_out_needs_the_form_token_and_ends_the_session(
    browser, dashboard: Dashboard
) -> None:
    page = sign_in(browser, dashboard, "reader")
    with httpx.Client(base_url=dashboard.url) as person:
        for c in page.context.cookies():
            person.cookies.set(c["name"], c["value"])
        assert person.post("/signout", data={"csrf": "wrong"}).status_code == 403
        assert person.get("/").status_code == 200
    page.click("text=Sign out")
    page.wait_for_url(f"{dashboard.url}/signin")
    page.goto(f"{dashboard.url}/")
    assert page.url.startswith(f"{dashboard.url}/signin")
    page.context.close()


def test_the_models_page_shows_the_replayed_model(browser, dashboard: Dashboard) -> None:
    page = sign_in(browser, dashboard)
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    page.reload()  # every request the page makes (its stylesheet and scripts) is answered
    row = page.locator(f"tr[data-model={MODEL}]")
    assert row.locator("a").first.inner_text() == MODEL
    assert row.locator(".status").first.inner_text() in ("warning", "critical")
    assert "firing" in row.inner_text()
    assert refused == []
    page.context.close()
