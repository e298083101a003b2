"""A dashboard to test: one real service on 127.0.0.1, filled once for this package's tests
with two weeks of replayed traffic (tests/service/ui/replay.py), and Debian's chromium driven
by Playwright. Screenshots go to `tests/service/ui/screenshots/` (not committed), to be looked at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api  # the dev extra; scripts/setup installs it
from tests.service.conftest import TOKENS, ThreadServer, token_settings
from tests.service.ui.replay import replay, start_of_replay

from vigil.alerts.rules import Control, Levels, Rule, Scope
from vigil.alerts.settings import AlertSettings
from vigil.config import ModelConfig, Settings
from vigil.monitor.streams import StreamConfig
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update"]  # fmt: skip
SHOTS = Path(__file__).parent / "screenshots"
MODEL = "credit"
# a control rule whose band the feature page draws; at 10σ it never fires on the replay
CONTROL_RULE = Rule(
    "age-psi-control",
    "drift.psi",
    Control(Levels(10.0, None), windows=8, min_history=4),
    Scope(columns=("age",)),
)


@dataclass
class Dashboard:
    """The filled service: its URL, an admin client for its API, and the replay's start."""

    url: str
    api: httpx.Client
    start: Any  # datetime of the first window

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """A page as a browser without JavaScript would get it, signed in as `as_` (admin)."""
        return self.api.get(path, **kwargs)


# stream detectors on the error and on the income (both change on CHANGE_DAY): their
# detections are the marks on the performance and feature pages
STREAMS = (StreamConfig("error", None, {}), StreamConfig("income", None, {}))


def settings_for(tmp: Path) -> Settings:
    plan = WindowPlan(
        size_seconds=6 * 3600, rolling_seconds=None, min_rows=20, segments=("region",)
    )
    return replace(
        Settings(db=str(tmp / "vigil.duckdb")),
        tokens=token_settings(),
        alerts=AlertSettings(rules=(CONTROL_RULE,)),
        windows=plan,
        # the model is registered over the API by the replay; the config adds its streams
        models=(ModelConfig(MODEL, "1", None, None, plan, streams=STREAMS),),
    )


@pytest.fixture(scope="package")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The filled service, shared by every dashboard test (tests that change alerts make
    their own alerts or read state after their own change only)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    app = create_app(settings_for(tmp), scheduler=False)
    admin = {"authorization": f"Bearer {TOKENS['admin']}"}
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60, headers=admin) as api:
        start = start_of_replay()
        replay(api, MODEL, start=start)
        yield Dashboard(url, api, start)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for this package's tests, closed when they end: Playwright's sync API runs an
    event loop on the main thread while it is open, which later tests (the SDK's
    `asyncio.run`) must not find running."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def sign_in(browser: Any, dashboard: Dashboard, who: str = "admin", width: int = 1280) -> Any:
    """A new browser tab signed in through the sign-in form with `who`'s token."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{dashboard.url}/signin")
    page.fill("#token", TOKENS[who])
    page.click("button[type=submit]")
    page.wait_for_url(f"{dashboard.url}/")
    return page


def shoot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and return its path."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def charts_drawn(page: Any) -> int:
    """Wait for dashboard.js to draw the page's charts; how many it drew."""
    page.wait_for_selector("html[data-charts-drawn]")
    return int(page.get_attribute("html", "data-charts-drawn"))
