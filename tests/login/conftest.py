"""Servers for the login tests, a headless Chromium, and a person's HTTP walk of the login page.

``browser`` is the system Chromium driven by Playwright (no downloaded browser); a missing
one fails the tests. ``LoginPage`` signs in and approves or denies a user code with plain
HTTP, as a browser without JavaScript would: the form's CSRF token, the session cookie.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import ADMIN_PASSWORD, RunningServer, start_server
from tests.support.rise_cli import TREE, RiseCli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
FAST = {"RISE_AUTH__DEVICE__INTERVAL": "1"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LINK = re.compile(
    r"^Please login to rise at (http://127\.0\.0\.1:\d+/oauth/login\?code=([A-Z]{4}-[A-Z]{4}))$"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("login") / "data", FAST)
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def start_rise_login(
    rise: RiseCli, server: RunningServer
) -> tuple[subprocess.Popen[str], str, str]:
    """``rise login URL`` running; its link and user code (from its first line)."""
    process = subprocess.Popen(
        rise.command("login", server.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=rise.env(CI="true"),
        cwd=TREE,
    )
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")
    found = LINK.match(first)
    if not found:
        process.kill()
        raise AssertionError(f"unexpected first line {first!r}: {process.communicate()}")
    return process, found.group(1), found.group(2)


def _fake_browser(folder: Path) -> tuple[Path, Path]:
    """A ``BROWSER`` command that hands the URL it is given over to the test (a file)."""
    handed = folder / "url"
    script = folder / "browser"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {handed}.tmp && mv {handed}.tmp {handed}\n')
    script.chmod(0o755)
    return script, handed


def start_browser_login(rise: RiseCli, server: RunningServer, tmp_path: Path) -> tuple[Any, str]:
    """``rise login URL --browser`` running, and the URL it opened the browser at."""
    script, handed = _fake_browser(tmp_path)
    process = subprocess.Popen(
        rise.command("login", server.url, "--browser"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=rise.env(CI="true", BROWSER=str(script)),
        cwd=TREE,
    )
    deadline = time.monotonic() + 30
    while not handed.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no browser was opened: {process.communicate()}")
        time.sleep(0.05)
    return process, handed.read_text()


def start_device_login(url: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/oauth/device/code", data={"client_id": "rise-cli"})
    assert response.status_code == 200, response.text
    return response.json()


def poll(url: str, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "rise-cli"},
    )


class LoginPage:
    """One person's visit to ``/oauth/login`` with a cookie jar."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=30)

    def open(self, code: str) -> httpx.Response:
        return self.http.get("/oauth/login", params={"code": code})

    def sign_in(self, code: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        """Sign in from the code's page; the approval page's HTML."""
        page = self.open(code)
        assert page.status_code == 200, page.text
        fields = {"csrf": csrf_of(page.text), "code": code, "username": user}
        answer = self.http.post("/oauth/login", data={**fields, "password": password})
        assert answer.status_code == 303, answer.text
        approval = self.http.get(answer.headers["location"])
        assert approval.status_code == 200 and "Approve" in approval.text, approval.text
        return approval.text

    def decide(self, code: str, decision: str) -> httpx.Response:
        csrf = csrf_of(self.sign_in(code))
        return self.http.post(
            "/oauth/login", data={"csrf": csrf, "code": code, "decision": decision}
        )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)
