"""``rise login`` as a person does it: the CLI prints a link, Chromium signs in and approves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rtoml

from tests.login.conftest import start_rise_login
from tests.server.conftest import ADMIN_PASSWORD, RunningServer
from tests.support.rise_cli import RiseCli


def _sign_in(browser: Any, link: str, code: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(link)
    assert code in page.inner_text("main")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#user-code")
    assert page.inner_text("#user-code") == code
    assert "Signed in as admin" in page.inner_text("main")
    cookie = next(c for c in context.cookies() if c["name"] == "rise_login")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/oauth"
    return page


def _decide_in_browser(
    server: RunningServer, browser: Any, rise: RiseCli, button: str, shown: str
) -> tuple[int, str, str]:
    """``rise login``, its link signed in and ``button`` clicked; its exit, stdout, stderr."""
    process, link, code = start_rise_login(rise, server)
    try:
        page = _sign_in(browser, link, code)
        page.get_by_role("button", name=button).click()
        page.wait_for_selector(f"text={shown}")
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, out, err


def test_rise_login_through_the_browser(server: RunningServer, browser: Any, tmp_path: Path):
    rise = RiseCli(tmp_path / "home")
    status, out, err = _decide_in_browser(server, browser, rise, "Approve", "Login approved")
    assert status == 0, err
    assert out == "Login successful! Welcome back, admin!\n"
    assert "user:   admin (admin)" in rise.ok("whoami")
    profile = rtoml.loads(rise.config_file.read_text())["profiles"]["default"]
    assert profile["access_token"] and profile["refresh_token"]
    assert profile["access_token"] not in out + err


def test_rise_login_denied_in_the_browser(server: RunningServer, browser: Any, tmp_path: Path):
    rise = RiseCli(tmp_path / "home")
    status, _, err = _decide_in_browser(server, browser, rise, "Deny", "Login denied")
    assert status == 3
    assert "the login was denied on the login page" in err
    assert not rise.config_file.exists()


def test_password_login_is_still_there_with_u(server: RunningServer, tmp_path: Path):
    rise = RiseCli(tmp_path / "home")
    out = rise.ok("login", server.url, "-u", "admin", "--password-stdin", input=ADMIN_PASSWORD)
    assert out == "Login successful! Welcome back, admin!\n"
