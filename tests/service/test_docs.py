"""The API documentation pages work offline: every asset they load is served by vigil itself,
from the files of an installed package, and no page names another host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files
from urllib.parse import urljoin, urlsplit

import pytest
from tests.service.conftest import Live

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in ("src", "href") and v]


def _links(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_and_everything_it_loads_come_from_vigil(live: Live, page: str) -> None:
    answer = live.client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    outside = [u for u in URL.findall(html) if urlsplit(u).hostname != "127.0.0.1"]
    assert outside == [], f"{page} names other hosts: {outside}"
    links = _links(html)
    assert any(link.endswith(".js") for link in links)
    for link in links:
        url = urljoin(live.url + page, link)
        assert urlsplit(url).hostname == "127.0.0.1"
        asset = live.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    # the page's script loads the OpenAPI document from here too
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    assert live.client.get("/openapi.json").status_code == 200


def test_the_assets_are_the_installed_package_files(live: Live) -> None:
    static = files("fastapi_offline") / "static"
    html = live.client.get("/docs").text
    served = {link.rsplit("/", 1)[-1]: link for link in _links(html)}
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= set(served)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        body = live.client.get(urljoin(live.url + "/docs", served[name])).content
        assert body == (static / name).read_bytes()
    # Swagger UI 5 or later: earlier ones refuse an OpenAPI 3.1 document, which vigil serves
    assert live.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = (static / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert "isOAS31" in bundle


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/../../../etc/passwd",
        "/docs/assets/%2e%2e/%2e%2e/etc/passwd",
        "/docs/assets/nope.js",
        "/docs/assets/" + "a" * 5000,
        "/docs/assets/swagger-ui.css%00.js",
    ],
)
def test_asset_paths_outside_the_package_are_404(live: Live, path: str) -> None:
    answer = live.client.get(path)
    assert answer.status_code == 404, answer.text
    assert "root:" not in answer.text


def test_the_docs_pages_take_no_input(live: Live) -> None:
    assert live.client.post("/docs").status_code == 405
    assert (
        live.client.get("/docs", params={"url": "https://evil.example/x.json"}).status_code == 200
    )
    assert "evil.example" not in live.client.get("/docs", params={"url": "//evil.example"}).text
