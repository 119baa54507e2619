"""Signing in through a real OpenID provider (npm oidc-provider), in headless Chromium.

A rise server is configured with the provider ``corp`` ("Corp SSO") whose group
``platform-eng`` maps to the team ``platform``. People click "Sign in with Corp SSO" on the
device login page (``rise login``) or the dashboard's sign-in page, sign in on the
provider's own login page, and land back where they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.login.conftest import FAST, start_browser_login, start_rise_login
from tests.server.conftest import RunningServer, start_server
from tests.support.oidc_provider import (
    CLIENT_SECRET,
    SECRET_VARIABLE,
    OidcProvider,
    provider_config,
    stopped_after,
)
from tests.support.rise_cli import RiseCli

GROUPS = {"alice": ["platform-eng", "unmapped"], "bob": [], "admin": ["platform-eng"]}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    yield from stopped_after(OidcProvider(tmp_path_factory.mktemp("provider"), GROUPS))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider
) -> Iterator[RunningServer]:
    corp = provider_config(provider, group_teams={"platform-eng": "platform"})
    env = {**FAST, "RISE_AUTH__OIDC": json.dumps([corp]), SECRET_VARIABLE: CLIENT_SECRET}
    running = start_server(tmp_path_factory.mktemp("oidc") / "data", env)
    # The provider learns rise's callback once rise has its port; rise discovers lazily.
    provider.start([f"{running.url}/oauth/oidc/corp/callback"])
    running.admin().ok("POST", "/api/v1/teams", {"name": "platform"}, 201)
    yield running
    running.terminate()


def sign_in_at_provider(page: Any, login: str) -> None:
    """On the provider's own (dev) login page: any login, any password."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")


def rise_login_through_provider(
    server: RunningServer, browser: Any, rise: RiseCli, login: str
) -> str:
    """``rise login``; its link opened, signed in at the provider, approved; stdout."""
    process, link, code = start_rise_login(rise, server)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(link)
        page.get_by_role("link", name="Sign in with Corp SSO").click()
        sign_in_at_provider(page, login)
        page.wait_for_selector("#user-code")
        assert page.inner_text("#user-code") == code
        assert f"Signed in as corp-{login}" in page.inner_text("main")
        page.get_by_role("button", name="Approve").click()
        page.wait_for_selector("text=Login approved")
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        return out
    finally:
        context.close()
        if process.poll() is None:
            process.kill()


def test_the_server_announces_its_provider(server: RunningServer, provider: OidcProvider):
    config = httpx.get(f"{server.url}/api/v1/auth/config").json()
    assert config["oidc"] == [
        {
            "name": "corp",
            "display_name": "Corp SSO",
            "issuer": provider.issuer,
            "sign_in_url": "/oauth/oidc/corp/start",
        }
    ]
    assert config["local"] is True


def test_rise_login_signs_in_through_the_provider(
    server: RunningServer, browser: Any, tmp_path: Path
):
    rise = RiseCli(tmp_path / "home")
    out = rise_login_through_provider(server, browser, rise, "alice")
    assert out == "Login successful! Welcome back, corp-alice!\n"
    me = json.loads(rise.ok("whoami", "-o", "json"))
    assert me["username"] == "corp-alice" and me["kind"] == "user"
    assert me["is_admin"] is False
    assert me["teams"] == ["platform"]  # the group claim put alice in the team


def test_a_provider_admin_is_not_the_local_admin(
    server: RunningServer, browser: Any, tmp_path: Path
):
    rise = RiseCli(tmp_path / "home")
    rise_login_through_provider(server, browser, rise, "admin")
    me = json.loads(rise.ok("whoami", "-o", "json"))
    assert me["username"] == "corp-admin" and me["is_admin"] is False
    users = {u["username"]: u for u in server.admin().ok("GET", "/api/v1/users")}
    assert users["corp-admin"]["provider"] == "corp" and not users["corp-admin"]["is_admin"]
    assert users["admin"]["provider"] is None and users["admin"]["is_admin"]


def test_provider_users_have_no_password_and_their_names_are_reserved(
    server: RunningServer, browser: Any, tmp_path: Path
):
    rise_login_through_provider(server, browser, RiseCli(tmp_path / "home"), "alice")
    login = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "corp-alice", "password": "x"}
    )
    assert login.status_code == 401
    admin = server.admin()
    taken = admin.put("/api/v1/users/corp-alice/password", json={"new_password": "a-password!"})
    assert taken.status_code == 404
    assert "signs in through provider 'corp'" in taken.json()["message"]
    squat = admin.post("/api/v1/users", json={"username": "corp-mallory", "password": "pw-long-1"})
    assert squat.status_code == 409
    assert "belong to users of provider 'corp'" in squat.json()["message"]


def test_the_dashboard_signs_in_through_the_provider(server: RunningServer, browser: Any):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/ui/teams")
        assert page.url.startswith(f"{server.url}/ui/sign-in")
        page.get_by_role("link", name="Sign in with Corp SSO").click()
        sign_in_at_provider(page, "alice")
        page.wait_for_url(f"{server.url}/ui/teams")
        assert "corp-alice" in page.inner_text("header")
        assert "platform" in page.inner_text("main")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["rise_session"]["httpOnly"] and "rise_oidc" not in cookies
    finally:
        context.close()


def test_groups_removed_at_the_provider_leave_the_team_on_next_sign_in(
    server: RunningServer, provider: OidcProvider, browser: Any, tmp_path: Path
):
    rise = RiseCli(tmp_path / "home")
    rise_login_through_provider(server, browser, rise, "alice")
    assert json.loads(rise.ok("whoami", "-o", "json"))["teams"] == ["platform"]
    provider.groups = {**GROUPS, "alice": ["unmapped"]}
    provider.stop()
    provider.start(provider.redirect_uris)
    try:
        rise_login_through_provider(server, browser, rise, "alice")
        assert json.loads(rise.ok("whoami", "-o", "json"))["teams"] == []
        team = server.admin().ok("GET", "/api/v1/teams/platform")
        assert "corp-alice" not in team["members"] and team["owners"] == ["admin"]
    finally:
        provider.groups = GROUPS
        provider.stop()
        provider.start(provider.redirect_uris)


def test_key_rotation_at_the_provider_needs_no_restart(
    server: RunningServer, provider: OidcProvider, browser: Any, tmp_path: Path
):
    rise = RiseCli(tmp_path / "home")
    rise_login_through_provider(server, browser, rise, "bob")  # the old key's ID token
    old = provider.signing_key.kid
    new = provider.rotate()
    assert new.kid != old
    out = rise_login_through_provider(server, browser, rise, "bob")  # signed with the new key
    assert out == "Login successful! Welcome back, corp-bob!\n"
    assert "rise server ready" in server.log() and server.process.poll() is None


def test_a_callback_from_another_browser_is_refused(server: RunningServer, browser: Any):
    """Login CSRF: a provider redirect (state and code) not started by this browser."""
    answer = httpx.get(f"{server.url}/oauth/oidc/corp/callback", params={"state": "s", "code": "c"})
    assert answer.status_code == 400
    assert "not started in this browser" in answer.text


def test_provider_tokens_are_no_rise_tokens(server: RunningServer, provider: OidcProvider):
    tokens = provider.sign_in_directly(
        "alice", f"{server.url}/oauth/oidc/corp/callback", nonce="replay"
    )
    for name in ("id_token", "access_token"):
        answer = httpx.get(
            f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {tokens[name]}"}
        )
        assert answer.status_code == 401, (name, answer.text)


def test_rise_login_browser_signs_in_through_the_provider(
    server: RunningServer, browser: Any, tmp_path: Path
):
    """``rise login --browser`` (authorization code + PKCE to rise), with the person signing
    in at the provider from rise's page and approving; the token is the provider user's."""
    rise = RiseCli(tmp_path / "home")
    process, link = start_browser_login(rise, server, tmp_path)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(link)
        page.get_by_role("link", name="Sign in with Corp SSO").click()
        sign_in_at_provider(page, "alice")
        page.wait_for_selector("#port")
        assert "Signed in as corp-alice" in page.inner_text("main")
        page.get_by_role("button", name="Approve").click()
        page.wait_for_selector("[role=status]")
        out, err = process.communicate(timeout=60)
    finally:
        context.close()
        process.kill()
    assert process.returncode == 0, err
    assert out == "Login successful! Welcome back, corp-alice!\n"
    assert json.loads(rise.ok("whoami", "-o", "json"))["username"] == "corp-alice"
