"""An event stream lives no longer than its session, against a real ``rise server`` with a
30-second ``access_token_ttl``: it ends with a ``signed-out`` event when the token expires,
when the password changes and when the user is deleted; a page renews its session from the
refresh cookie and listens again, or says that it is signed out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.server.conftest import USER_PASSWORD, Api, RunningServer, image, start_server
from tests.support.waiting import eventually
from tests.ui.conftest import sign_in

TTL = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("expiry") / "data"
    running = start_server(data, extra_env={"RISE_AUTH__ACCESS_TOKEN_TTL": str(TTL)})
    yield running
    running.terminate()


class _Stream:
    """One stream read in a thread: its event names, and when it ended."""

    def __init__(self, api: Api):
        self.events: list[tuple[str, str]] = []
        self.ended: float | None = None
        self.opened = threading.Event()
        headers = {"Authorization": f"Bearer {api.token}"}
        url = f"{api.url}/api/v1/events"
        threading.Thread(target=self._read, args=(url, headers), daemon=True).start()
        assert self.opened.wait(10)
        self.started = time.monotonic()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        name = "message"
        with httpx.stream("GET", url, headers=headers, timeout=None) as answer:
            assert answer.status_code == 200
            self.opened.set()
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.events.append((name, line[6:]))
                    name = "message"
        self.ended = time.monotonic()

    def reason(self) -> str:
        assert self.events and self.events[-1][0] == "signed-out", self.events
        return str(json.loads(self.events[-1][1])["reason"])


def test_a_stream_ends_with_its_token_or_its_user(server: RunningServer) -> None:
    admin = server.admin()
    changing, leaving, waiting = (server.user(n) for n in ("sx-pat", "sx-quin", "sx-ray"))
    streams = {name: _Stream(api) for name, api in (("pat", changing), ("quin", leaving))}
    expiring = _Stream(waiting)

    body = {"current_password": USER_PASSWORD, "new_password": "another-long-password"}
    changing.ok("PUT", "/api/v1/users/me/password", body)
    admin.ok("DELETE", "/api/v1/users/sx-quin")
    eventually(lambda: all(s.ended for s in streams.values()), timeout=15)
    assert "password changed" in streams["pat"].reason()
    assert "no longer exists" in streams["quin"].reason()

    assert expiring.ended is None
    eventually(lambda: expiring.ended, timeout=TTL + 10)
    assert expiring.reason() == "the session expired"
    lived = expiring.ended - expiring.started
    assert TTL - 5 < lived < TTL + 8, lived


def test_a_page_renews_its_stream_or_says_it_is_signed_out(
    server: RunningServer, page: Page, artifacts: Path
) -> None:
    sam = server.user("sx-sam")
    sam.ok("POST", "/api/v1/projects", {"name": "sx-app"}, 201)
    sign_in(page, server, "sx-sam")
    page.goto(f"{server.url}/ui/projects/sx-app")
    first = next(c["value"] for c in page.context.cookies() if c["name"] == "rise_session")
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/api/v1/events" in r.url else None)
    page.evaluate("window.marker = 1")
    page.wait_for_timeout((TTL + 3) * 1000)  # the token expires: the stream ends

    eventually(lambda: len(streams) >= 1, timeout=10)  # a new stream, on a renewed session
    renewed = next(c["value"] for c in page.context.cookies() if c["name"] == "rise_session")
    assert renewed != first
    sam.ok("POST", "/api/v1/projects/sx-app/deployments", {"image": image("sx-app")}, 201)
    expect(page.locator("h1 [data-status]")).to_have_text("running", timeout=20_000)
    expect(page.locator("[data-signed-out]")).to_have_count(0)
    assert page.evaluate("window.marker") == 1, "the page reloaded"

    body = {"current_password": USER_PASSWORD, "new_password": "another-long-password"}
    sam.ok("PUT", "/api/v1/users/me/password", body)  # the refresh token is void too
    alert = page.locator("[data-signed-out]")
    expect(alert).to_contain_text("You are signed out", timeout=15_000)
    expect(alert).to_contain_text("password changed")
    page.screenshot(path=str(artifacts / "dashboard-signed-out.png"), full_page=True)
    alert.get_by_role("link", name="Sign in again").click()
    page.wait_for_url("**/ui/sign-in?next=*")
    assert unquote(page.url.split("next=", 1)[1]) == "/ui/projects/sx-app"
