# ruff: noqa: F811
"""A private app through rise's own proxy (the ``docker`` runtime of ``rise dev``), in Chromium.

A browser at ``http://vault.localhost:PORT/`` without a session is sent to rise's sign-in
(``http://127.0.0.1:PORT``, another site: no cookie can be shared), signs in, and comes back
through the one-time ``/.rise/session`` ticket that becomes a host-only cookie. The app has no
running container here (only podman's Docker API, for the runtime to start): reaching its
"not running" page is what proves the proxy let the person through; a stranger gets "No such app".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

# The login tests' headless Chromium fixture, used here by its name (hence F401/F811).
from tests.login.conftest import browser  # noqa: F401
from tests.server.conftest import USER_PASSWORD, RunningServer, start_server
from tests.support.containers import container_env, start_podman_service
from tests.support.registry import stop_process
from tests.support.waiting import free_port


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Docker API (podman's) for the runtime to start against; no image is needed."""
    env = container_env(tmp_path_factory.mktemp("engine"))
    process, docker_host = start_podman_service(env)
    yield docker_host
    stop_process(process)
    env.remove()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("proxy") / "data"
    port = free_port()
    env = {
        "RISE_RUNTIME__KIND": "docker",
        "RISE_DOCKER__HOST": engine,
        "RISE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RISE_APP_URL_TEMPLATE": f"http://{{project}}.localhost:{port}",
    }
    running = start_server(data, env, port=port)
    owner = running.user("alice")
    owner.ok("POST", "/api/v1/projects", {"name": "vault", "visibility": "private"}, 201)
    running.user("mallory")
    yield running
    running.terminate()


def _visit(server: RunningServer, browser: Any, user: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://vault.localhost:{server.port}/reports?q=1")
    assert urlsplit(page.url).netloc == f"127.0.0.1:{server.port}"
    assert urlsplit(page.url).path == "/oauth/signin"
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: url.startswith("http://vault.localhost"))
    return context, page


def test_a_member_signs_in_and_reaches_the_app(server: RunningServer, browser: Any) -> None:
    context, page = _visit(server, browser, "alice")
    assert page.url == f"http://vault.localhost:{server.port}/reports?q=1"
    assert "vault has no running deployment yet" in page.inner_text("body")
    cookie = next(c for c in context.cookies() if c["name"] == "rise_apps")
    assert cookie["domain"] == "vault.localhost"  # host-only: no other app gets it
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # The session holds: the next visit goes straight through.
    page.goto(f"http://vault.localhost:{server.port}/other")
    assert "vault has no running deployment yet" in page.inner_text("body")


def test_a_stranger_signs_in_and_is_refused(server: RunningServer, browser: Any) -> None:
    _, page = _visit(server, browser, "mallory")
    assert "There is no app at vault" in page.inner_text("body")


def test_without_a_browser_session(server: RunningServer) -> None:
    app = f"http://127.0.0.1:{server.port}"
    host = {"host": f"vault.localhost:{server.port}"}
    visit = httpx.get(f"{app}/x", headers=host)
    assert visit.status_code == 303
    signin = urlsplit(visit.headers["location"])
    assert signin.path == "/oauth/signin"
    assert parse_qs(signin.query)["rd"] == [f"http://vault.localhost:{server.port}/x"]
    post = httpx.post(f"{app}/x", headers=host, content=b"data")
    assert post.status_code == 401 and post.headers["www-authenticate"].startswith("Bearer ")
    basic = httpx.get(f"{app}/x", headers=host, auth=("alice", USER_PASSWORD))
    assert basic.status_code == 303  # a password is no session
    forged = httpx.get(f"{app}/.rise/session", headers=host, params={"ticket": "guess"})
    assert forged.status_code == 400 and "set-cookie" not in forged.headers
    bearer = {"authorization": f"Bearer {server.user('alice').token}", **host}
    assert httpx.get(f"{app}/x", headers=bearer).status_code == 503  # through: not running
