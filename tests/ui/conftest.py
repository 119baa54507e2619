"""A real ``rise server`` and headless Chromium (Playwright) driving its dashboard.

Chromium is the system one (``/usr/bin/chromium``, installed by ``.ci/run``); a missing
browser fails the tests rather than skipping them. Screenshots go to ``RISE_TEST_ARTIFACTS``
(default ``tmp/artifacts`` in the checkout), for CI to keep and for docs/dashboard.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.server.conftest import USER_PASSWORD, RunningServer, start_server

CHROMIUM = os.environ.get("RISE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("ui") / "data")
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    root = Path(os.environ.get("RISE_TEST_ARTIFACTS", Path(__file__).parents[2] / "tmp/artifacts"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def sign_in(
    page: Page, server: RunningServer, username: str, password: str = USER_PASSWORD
) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/projects")
