"""The dashboard decides as the API does: a private project never shows to someone without
access (pages, search, event stream); every form needs its CSRF token; the session cookie
and the Content-Security-Policy are strict."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from reconciler.server.app import create_app
from reconciler.server.config import load_config
from reconciler.server.context import build_context
from reconciler.server.tokens import LEEWAY_SECONDS
from tests.server.conftest import ADMIN_PASSWORD, Api, InProcessServer, RunningServer, image
from tests.support.waiting import eventually
from tests.ui.conftest import sign_in


def _events(api: Api, into: list[str], stop: threading.Event, query: str = "") -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    with httpx.stream(
        "GET", f"{api.url}/api/v1/events{query}", headers=headers, timeout=None
    ) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            into.append(line)
            if stop.is_set():
                return


def test_a_private_project_shows_nowhere_to_someone_without_access(
    server: RunningServer, page: Page
) -> None:
    dora, eve = server.user("dora"), server.user("eve")
    dora.ok("POST", "/api/v1/projects", {"name": "vault", "visibility": "private"}, 201)
    dora.ok("POST", "/api/v1/projects", {"name": "lobby"}, 201)
    seen: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(target=_events, args=(eve, seen, stop), daemon=True)
    reader.start()
    eventually(lambda: seen, timeout=10)  # the stream is open (its retry line arrived)
    dora.ok("POST", "/api/v1/projects/vault/deployments", {"image": image("vault", 1)}, 201)
    time.sleep(0.5)  # vault's events come first: eve's stream must have skipped them
    dora.ok("POST", "/api/v1/projects/lobby/deployments", {"image": image("lobby", 1)}, 201)
    eventually(lambda: any('"running"' in line and "lobby" in line for line in seen), timeout=30)
    stop.set()
    assert not [line for line in seen if "vault" in line], seen

    sign_in(page, server, "eve")
    expect(page.get_by_role("row", name="lobby")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("vault")
    page.goto(f"{server.url}/ui/projects?q=vau")
    expect(page.locator("tbody")).to_contain_text("No projects match")
    answer = page.goto(f"{server.url}/ui/projects/vault")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("'vault' not found")
    answer = page.goto(f"{server.url}/ui/projects/lobby")  # public: visible, not changeable
    assert answer is not None and answer.status == 200
    expect(page.get_by_role("button", name="Stop lobby")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll back")).to_have_count(0)

    direct = httpx.get(f"{server.url}/api/v1/events?project=vault", timeout=5)
    assert direct.status_code == 401  # no session, no token: nothing streams


def test_forged_form_posts_are_refused(server: RunningServer, page: Page) -> None:
    frank = server.user("frank")
    frank.ok("POST", "/api/v1/projects", {"name": "forge"}, 201)
    frank.ok("POST", "/api/v1/projects/forge/deployments", {"image": image("forge", 1)}, 201)
    sign_in(page, server, "frank")
    stop = f"{server.url}/ui/projects/forge/stop"
    forged: list[dict[str, str | float | bool]] = [{}, {"csrf": "0" * 64}]
    for form in forged:
        answer = page.request.post(stop, form=form, max_redirects=0)
        assert answer.status == 403, answer.text()
        assert "CSRF" in answer.text()
    assert frank.ok("GET", "/api/v1/projects/forge")["deployment"]["state"] == "running"

    outsider = httpx.post(
        f"{server.url}/ui/sign-in", data={"username": "frank", "password": "x"}, timeout=5
    )
    assert outsider.status_code == 403  # a sign-in form from elsewhere: no CSRF token

    page.goto(f"{server.url}/ui/projects/forge")
    page.get_by_role("button", name="Stop forge").click()  # the real form: accepted
    page.wait_for_url("**/ui/projects/forge")
    assert frank.ok("GET", "/api/v1/projects/forge")["deployment"]["state"] == "stopped"


def test_session_cookie_and_headers_are_strict(server: RunningServer, page: Page) -> None:
    server.user("gina")
    sign_in(page, server, "gina")
    cookie = next(c for c in page.context.cookies() if c["name"] == "rise_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert not cookie["secure"]  # plain http here; Secure when the public URL is https
    answer = page.goto(f"{server.url}/ui/projects")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/sign-in")
    assert page.goto(f"{server.url}/ui/projects") is not None
    expect(page).to_have_url(f"{server.url}/ui/sign-in?next=/ui/projects")


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_the_session_cookie_is_secure_behind_an_https_public_url(tmp_path: Path) -> None:
    flags = {"data_dir": str(tmp_path / "data"), "public_url": "https://rise.example.com"}
    ctx = build_context(load_config(flags=flags), {"RISE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with InProcessServer(create_app(ctx)) as http:
        form = http.get("/ui/sign-in")
        assert "Secure" in form.headers["set-cookie"]
        fields = {"csrf": _csrf(form), "username": "admin", "password": ADMIN_PASSWORD}
        # Sent by hand: a Secure cookie never goes over this test's plain http.
        signin = form.headers["set-cookie"].split(";", 1)[0]
        http.cookies.clear()
        answer = http.post("/ui/sign-in", data=fields, headers={"Cookie": signin})
        assert answer.status_code == 303, answer.text
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("rise_session="))
        assert "Secure" in session and "HttpOnly" in session and "SameSite=lax" in session


def test_an_expired_session_is_renewed_until_the_refresh_token_expires(tmp_path: Path) -> None:
    now = [datetime.now(UTC)]
    config = load_config(flags={"data_dir": str(tmp_path / "data")})
    ctx = build_context(config, {"RISE_ADMIN_PASSWORD": ADMIN_PASSWORD}, clock=lambda: now[0])
    with InProcessServer(create_app(ctx)) as http:
        fields = {"username": "admin", "password": ADMIN_PASSWORD}
        signed = http.post("/ui/sign-in", data={"csrf": _csrf(http.get("/ui/sign-in")), **fields})
        assert signed.status_code == 303, signed.text
        now[0] += timedelta(seconds=config.auth.access_token_ttl + LEEWAY_SECONDS + 1)
        page = http.get("/ui/projects")
        assert page.status_code == 200 and "Projects" in page.text
        assert any(c.startswith("rise_session=") for c in page.headers.get_list("set-cookie"))
        now[0] += timedelta(seconds=config.auth.refresh_token_ttl + LEEWAY_SECONDS + 1)
        expired = http.get("/ui/projects")
        assert expired.status_code == 303
        assert expired.headers["location"] == "/ui/sign-in?next=/ui/projects"
