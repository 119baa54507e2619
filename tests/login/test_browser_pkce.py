"""``rise login --browser`` as a person does it: the CLI opens the browser, Chromium signs in
and approves on rise's page, the browser comes back to the CLI's callback on 127.0.0.1."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import rtoml

from tests.login.conftest import start_browser_login
from tests.server.conftest import ADMIN_PASSWORD, RunningServer
from tests.support.rise_cli import RiseCli


def _sign_in(browser: Any, link: str, button: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(link)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#port")
    assert "Signed in as admin" in page.inner_text("main")
    page.get_by_role("button", name=button).click()
    page.wait_for_selector("[role=status]")
    return page


def test_rise_login_browser_end_to_end(server: RunningServer, browser: Any, tmp_path: Path) -> None:
    rise = RiseCli(tmp_path / "home")
    process, link = start_browser_login(rise, server, tmp_path)
    try:
        query = parse_qs(urlsplit(link).query)
        assert link.startswith(f"{server.url}/oauth/authorize?")
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        callback = urlsplit(query["redirect_uri"][0])
        assert callback.hostname == "127.0.0.1" and callback.path == "/callback"
        page = _sign_in(browser, link, "Approve")
        assert urlsplit(page.url).netloc == callback.netloc  # back at the CLI's listener
        assert page.inner_text("h1") == "Login complete"
        assert "use the terminal" in page.inner_text("main")
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out == "Login successful! Welcome back, admin!\n"
    assert "user:   admin (admin)" in rise.ok("whoami")
    assert rise.config_file.stat().st_mode & 0o777 == 0o600
    profile = rtoml.loads(rise.config_file.read_text())["profiles"]["default"]
    assert profile["access_token"] and profile["refresh_token"]
    assert profile["access_token"] not in out + err and profile["refresh_token"] not in out + err


def test_denied_in_the_browser(server: RunningServer, browser: Any, tmp_path: Path) -> None:
    rise = RiseCli(tmp_path / "home")
    process, link = start_browser_login(rise, server, tmp_path)
    try:
        page = _sign_in(browser, link, "Deny")
        assert page.inner_text("h1") == "Login failed"
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 3
    assert "the login was denied on the login page" in err
    assert not rise.config_file.exists()


def test_a_stranger_on_the_callback_port_is_ignored(server: RunningServer, tmp_path: Path) -> None:
    """Only the answer with our ``state`` counts; a wrong one neither ends nor fools the wait."""
    import httpx

    rise = RiseCli(tmp_path / "home")
    process, link = start_browser_login(rise, server, tmp_path)
    try:
        callback = parse_qs(urlsplit(link).query)["redirect_uri"][0]
        forged = httpx.get(callback, params={"code": "forged", "state": "guessed"})
        assert forged.status_code == 400 and "not for the rise login" in forged.text
        assert httpx.get(callback.replace("/callback", "/other")).status_code == 404
        assert process.poll() is None  # still waiting for the real answer
    finally:
        process.kill()
        process.communicate()


def test_browser_goes_with_no_password_flags(tmp_path: Path) -> None:
    rise = RiseCli(tmp_path / "home")
    err = rise.run("login", "http://127.0.0.1:9", "--browser", "-u", "admin").stderr
    assert "--browser logs in through the browser" in err


def test_ctrl_c_while_waiting(server: RunningServer, tmp_path: Path) -> None:
    rise = RiseCli(tmp_path / "home")
    process, _ = start_browser_login(rise, server, tmp_path)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Interrupted" in err
    assert not rise.config_file.exists()
