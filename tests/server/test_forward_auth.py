"""Forward auth of private apps through a running server: the apps' session cookie that
``/oauth/signin`` sets, ``/auth/ingress``'s 200/401/403, no passwords, no open redirect.

The server is configured as an operator with an ingress controller would: rise at
``rise.example.test``, apps at ``<project>.apps.example.test``, the cookie for
``example.test``. Requests go to 127.0.0.1 with those names as ``Host``; the cookie jar is
this test's, kept by hand, so every attribute of the cookie is checked as sent.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from reconciler.render import RenderSettings, render_project
from schemas.server import ServerConfig
from tests.login.conftest import csrf_of
from tests.reconciler.golden import golden_repo
from tests.server.conftest import USER_PASSWORD, Api, RunningServer, start_server

RISE = "rise.example.test"
APPS = "apps.example.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "RISE_PUBLIC_URL": f"https://{RISE}",
        "RISE_APP_URL_TEMPLATE": f"https://{{project}}.{APPS}",
        "RISE_AUTH__APPS__COOKIE_DOMAIN": "example.test",
    }
    running = start_server(tmp_path_factory.mktemp("fwd") / "data", env)
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def projects(server: RunningServer) -> RunningServer:
    owner = server.user("alice")
    owner.ok("POST", "/api/v1/projects", {"name": "intranet", "visibility": "private"}, 201)
    owner.ok("POST", "/api/v1/projects", {"name": "homepage"}, 201)
    server.user("mallory")
    return server


def sign_in(server: RunningServer, user: str, rd: str) -> httpx.Response:
    """A browser's walk: the sign-in page, the form, back to /oauth/signin; its last answer.
    The login cookie is Secure (rise is https), so this jar carries it by hand over http."""
    browser = httpx.Client(base_url=server.url, headers={"host": RISE}, timeout=30)
    page = browser.get("/oauth/signin", params={"rd": rd})
    assert page.status_code == 200, page.text
    after = re.search(r'name="next" value="([^"]+)"', page.text)
    assert after, page.text
    signed = browser.post(
        "/oauth/login",
        data={
            "csrf": csrf_of(page.text),
            "next": html.unescape(after.group(1)),
            "username": user,
            "password": USER_PASSWORD,
        },
        headers={"cookie": _login_cookie(page)},
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == f"/oauth/signin?rd={quote(rd, safe='')}"
    return browser.get(signed.headers["location"], headers={"cookie": _login_cookie(signed)})


def _login_cookie(response: httpx.Response) -> str:
    cookie = SimpleCookie(response.headers["set-cookie"])["rise_login"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/oauth"
    return f"rise_login={cookie.value}"


def apps_cookie(server: RunningServer, user: str) -> str:
    done = sign_in(server, user, f"https://intranet.{APPS}/reports?q=1")
    assert done.status_code == 303, done.text
    cookie = SimpleCookie(done.headers["set-cookie"])["rise_apps"]
    return cookie.value


def ingress(server: RunningServer, project: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}/auth/ingress", params={"project": project}, headers=headers)


def test_sign_in_sets_the_apps_cookie_and_goes_back(projects: RunningServer) -> None:
    rd = f"https://intranet.{APPS}/reports?q=1"
    done = sign_in(projects, "alice", rd)
    assert done.status_code == 303 and done.headers["location"] == rd
    raw = done.headers["set-cookie"]
    cookie = SimpleCookie(raw)["rise_apps"]
    assert cookie["domain"] == "example.test" and cookie["path"] == "/"
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"].lower() == "lax"
    assert 0 < int(cookie["max-age"]) <= 8 * 3600


def test_the_cookie_lets_members_through_with_who_they_are(projects: RunningServer) -> None:
    alice = apps_cookie(projects, "alice")
    allowed = ingress(projects, "intranet", cookie=f"rise_apps={alice}")
    assert allowed.status_code == 200
    assert allowed.headers["x-auth-request-user"] == "alice"
    mallory = apps_cookie(projects, "mallory")
    assert ingress(projects, "intranet", cookie=f"rise_apps={mallory}").status_code == 403
    assert ingress(projects, "no-such-app", cookie=f"rise_apps={alice}").status_code == 403
    assert ingress(projects, "homepage").status_code == 200


def test_no_or_a_bad_cookie_asks_to_sign_in(projects: RunningServer) -> None:
    assert ingress(projects, "intranet").status_code == 401
    assert ingress(projects, "intranet", cookie="rise_apps=forged.value.x").status_code == 401
    # An API token is no apps cookie, and the apps cookie is no API token.
    token = projects.user("alice").token or ""
    assert ingress(projects, "intranet", cookie=f"rise_apps={token}").status_code == 401
    alice = apps_cookie(projects, "alice")
    me = Api(projects.url, alice).get("/api/v1/me")
    assert me.status_code == 401 and "not a rise access token" in me.json()["message"]


def test_bearer_tokens_still_work_for_api_clients(projects: RunningServer) -> None:
    alice = projects.user("alice")
    allowed = ingress(projects, "intranet", authorization=f"Bearer {alice.token}")
    assert allowed.status_code == 200 and allowed.headers["x-auth-request-user"] == "alice"
    mallory = projects.user("mallory")
    assert ingress(projects, "intranet", authorization=f"Bearer {mallory.token}").status_code == 403


def test_basic_is_refused_and_never_locks_anyone_out(projects: RunningServer) -> None:
    def basic(password: str) -> dict[str, str]:
        raw = base64.b64encode(f"alice:{password}".encode()).decode()
        return {"authorization": f"Basic {raw}"}

    for attempt in range(40):  # far beyond the lockout threshold of password logins
        assert ingress(projects, "intranet", **basic(f"wrong-{attempt}")).status_code == 401
    assert ingress(projects, "intranet", **basic(USER_PASSWORD)).status_code == 401
    # alice was never locked: her password still logs her in at once.
    login = httpx.post(
        f"{projects.url}/api/v1/auth/login", json={"username": "alice", "password": USER_PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert "locked" not in projects.log()


@pytest.mark.parametrize(
    "rd",
    [
        "https://evil.example/",
        f"https://{APPS}.evil.example/",
        f"https://{APPS}/",  # the domain itself is no app
        f"https://{RISE}/api/v1/me",  # rise itself is under the cookie domain, but no app
        f"//intranet.{APPS}/",
        f"javascript:alert(1)//intranet.{APPS}",
        f"https://user@intranet.{APPS}/",
        f"https://x;script-src *.{APPS}/",
        f"https://x%2eevil.example%23.{APPS}/",
        "",
    ],
)
def test_sign_in_never_redirects_outside_the_apps(projects: RunningServer, rd: str) -> None:
    page = httpx.get(f"{projects.url}/oauth/signin", params={"rd": rd}, headers={"host": RISE})
    assert page.status_code == 400, page.text
    assert "location" not in page.headers and "Cannot sign in here" in page.text


def test_the_ingress_annotations_of_a_private_project(tmp_path: Path) -> None:
    """What the kubernetes runtime renders from the server config: ask rise, sign in there."""
    vault = golden_repo(tmp_path / "state.git").snapshot().projects["vault"]

    def annotations(**config: Any) -> dict[str, str]:
        settings = RenderSettings.from_config(ServerConfig.model_validate(config))
        ingress = next(o for o in render_project(vault, settings, None) if o["kind"] == "Ingress")
        found: dict[str, str] = ingress["metadata"]["annotations"]
        return found

    found = annotations(public_url=f"https://{RISE}")
    assert found["nginx.ingress.kubernetes.io/auth-url"] == (
        f"https://{RISE}/auth/ingress?project=vault"
    )
    assert found["nginx.ingress.kubernetes.io/auth-signin"] == f"https://{RISE}/oauth/signin"
    assert found["nginx.ingress.kubernetes.io/auth-response-headers"] == (
        "X-Auth-Request-User,X-Auth-Request-Email"
    )
    # No public_url, an auth URL of its own: no sign-in to send a browser to, only the 401.
    alone = annotations(kubernetes={"forward_auth_url": "https://auth.internal/check"})
    assert alone["nginx.ingress.kubernetes.io/auth-url"] == (
        "https://auth.internal/check?project=vault"
    )
    assert "nginx.ingress.kubernetes.io/auth-signin" not in alone
