"""The tour of issue 11 with real parts only: ``rise dev`` (podman's Docker API, the CNCF
registry with rise's token auth), ``rise build --push`` with buildah, the API, the proxy.

One ``rise dev`` serves the module; the tour runs in order inside one test, because each step
starts from what the one before left (a deployment serving, a failed one beside it...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.dev import ADMIN_PASSWORD, Builder, DevProcess, start_dev
from tests.support.waiting import eventually

DOMAIN = "apps.rise.test"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    running = start_dev(tmp_path_factory.mktemp("dev") / "data", args=("--apps-domain", DOMAIN))
    yield running
    running.interrupt()


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory, dev: DevProcess) -> Iterator[Builder]:
    built = Builder(tmp_path_factory.mktemp("build"), dev)
    yield built
    built.remove()


def _status(api: object, project: str) -> dict[str, object]:
    response = api.get(f"/api/v1/projects/{project}")  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _deploy(api: object, project: str, body: dict[str, str]) -> str:
    created = api.ok("POST", f"/api/v1/projects/{project}/deployments", body, 201)  # type: ignore[attr-defined]
    return str(created["id"])


class Poller:
    """A client asking the app every 50 ms, keeping every failure and every page seen."""

    def __init__(self, dev: DevProcess, project: str):
        self.dev, self.project = dev, project
        self.failures: list[str] = []
        self.pages: list[str] = []
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                self.requests += 1
                try:
                    response = client.get(
                        f"{self.dev.url}/", headers={"host": f"{self.project}.localhost"}
                    )
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                    elif not self.pages or self.pages[-1] != response.text:
                        self.pages.append(response.text)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.05)


def test_the_tour(dev: DevProcess, builder: Builder) -> None:
    api = dev.admin()

    # create project `hello`; build and push examples/hello with rise's registry credentials
    api.ok("POST", "/api/v1/projects", {"name": "hello", "owner": "user:admin"}, 201)
    assert f"export DOCKER_HOST={dev.docker_host}" in dev.log()  # what the banner says
    first = builder.push(builder.hello(), api.token or "", with_dev_engine=True)
    assert first.startswith(f"{dev.registry}/hello@sha256:")

    # deploy: the page comes through the proxy
    one = _deploy(api, "hello", {"image": first})
    page = eventually(lambda: dev.app("hello").status_code == 200 and dev.app("hello"), 60)
    assert "Hello from rise" in page.text
    other = httpx.get(dev.url, headers={"host": f"hello.{DOMAIN}:{dev.port}"})
    assert other.text == page.text  # the configured apps domain too
    assert f"http://<project>.{DOMAIN}:{dev.port}" in dev.log()
    assert _status(api, "hello")["status"] == "running"
    assert len(dev.containers("hello")) == 1

    # redeploy a changed app while a client polls every 50 ms: zero failed requests
    second = builder.push(builder.hello("<h1>Hello again</h1>"), api.token or "")
    with Poller(dev, "hello") as poller:
        time.sleep(0.3)
        two = _deploy(api, "hello", {"image": second})
        eventually(lambda: poller.pages and "Hello again" in poller.pages[-1], 60)
        eventually(lambda: len(dev.containers("hello")) == 1, 30)  # the old one is gone
        time.sleep(0.3)
    assert poller.failures == [], poller.failures
    assert poller.requests > 10
    assert [("Hello again" in p) for p in poller.pages] == [False, True]

    # an image that cannot start: failed with the reason, the old version still served
    broken = builder.push(builder.unstartable(), api.token or "")
    three = _deploy(api, "hello", {"image": broken})
    status = eventually(lambda: (s := _status(api, "hello"))["status"] == "failed" and s, 60)
    assert status["deployment_id"] == three
    failed = api.ok("GET", f"/api/v1/projects/hello/deployments/{three}")
    assert failed["status"] == "failed"
    assert "no-such-server" in str(failed["reason"]), failed
    assert f"{two} keeps serving" in str(failed["reason"])
    assert "Hello again" in dev.app("hello").text

    # roll back to the first deployment: its page is served, the failed container is gone
    api.ok("POST", f"/api/v1/projects/hello/deployments/{one}/rollback", None, 201)
    eventually(lambda: "Hello from rise" in dev.app("hello").text, 60)
    eventually(lambda: len(dev.containers("hello")) == 1, 30)
    eventually(lambda: _status(api, "hello")["status"] == "running", 30)

    # stop: the proxy's 503 page says so
    api.ok("POST", "/api/v1/projects/hello/deployments/stop")
    stopped = eventually(lambda: "hello is stopped" in (r := dev.app("hello")).text and r, 30)
    assert stopped.status_code == 503
    assert stopped.headers["content-type"].startswith("text/html")
    eventually(lambda: dev.containers("hello") == [], 30)

    # start it again, then delete the project: its containers are gone
    api.ok("POST", f"/api/v1/projects/hello/deployments/{one}/rollback", None, 201)
    eventually(lambda: dev.app("hello").status_code == 200, 60)
    assert api.delete("/api/v1/projects/hello").status_code in (200, 204)
    eventually(lambda: dev.containers("hello") == [], 30)
    # A project that does not exist looks like a private one: sign in to learn more.
    assert dev.app("hello").status_code == 303
    bearer = {"authorization": f"Bearer {api.token}"}
    assert dev.app("hello", headers=bearer).status_code == 404


def test_private_app_asks_to_sign_in(dev: DevProcess, builder: Builder) -> None:
    api = dev.admin()
    api.ok(
        "POST",
        "/api/v1/projects",
        {"name": "vault", "owner": "user:admin", "visibility": "private"},
        201,
    )
    image = builder.push(builder.hello("<h1>secret page</h1>"), api.token or "", "vault")
    _deploy(api, "vault", {"image": image})
    bearer = {"authorization": f"Bearer {api.token}"}
    eventually(lambda: dev.app("vault", headers=bearer).status_code == 200, 60)

    anonymous = dev.app("vault")
    assert anonymous.status_code == 303  # to rise's sign-in page
    assert anonymous.headers["location"].startswith(f"{dev.url}/oauth/signin?rd=")
    assert "secret page" not in anonymous.text
    assert "secret page" in dev.app("vault", headers=bearer).text
    # Passwords are no way in (and never reach the password hash or its lockout).
    assert dev.app("vault", auth=("admin", ADMIN_PASSWORD)).status_code == 303

    api.ok("POST", "/api/v1/users", {"username": "eve", "password": "eve-password-1"}, 201)
    eve_token = httpx.post(
        f"{dev.url}/api/v1/auth/login", json={"username": "eve", "password": "eve-password-1"}
    ).json()["access_token"]
    as_eve = {"authorization": f"Bearer {eve_token}"}
    eve = dev.app("vault", headers=as_eve)
    nothing = dev.app("no-such-app", headers=as_eve)
    assert (eve.status_code, eve.text) == (
        nothing.status_code,
        nothing.text.replace("no-such-app", "vault"),
    )
    assert eve.status_code == 404


def test_bodies_stream_through_the_proxy_both_ways(dev: DevProcess, builder: Builder) -> None:
    api = dev.admin()
    api.ok("POST", "/api/v1/projects", {"name": "files", "owner": "user:admin"}, 201)
    folder = builder.files(8 << 20)
    image = builder.push(folder, api.token or "", "files")
    _deploy(api, "files", {"image": image})
    eventually(lambda: dev.app("files").status_code == 200, 60)

    expected = (folder / "www" / "big.bin").read_bytes()
    headers = {"host": f"files.localhost:{dev.port}"}
    with httpx.stream("GET", f"{dev.url}/big.bin", headers=headers, timeout=60) as response:
        assert response.status_code == 200
        received = b"".join(response.iter_raw())
    assert received == expected

    upload = bytes(reversed(expected[: 3 << 20]))
    echoed = httpx.post(f"{dev.url}/cgi-bin/echo", content=upload, headers=headers, timeout=60)
    assert echoed.status_code == 200, echoed.text[:300]
    assert echoed.content == upload

    # env and secrets reach the app (a change is a new container, blue/green); PORT is its own
    api.ok("PUT", "/api/v1/projects/files/env/GREETING", {"value": "hi there"})
    api.ok("PUT", "/api/v1/projects/files/env/TOKEN", {"value": "s3cret", "secret": True})
    shown = eventually(lambda: "s3cret" in (r := dev.app("files", "/cgi-bin/env")).text and r, 60)
    [container] = eventually(lambda: (c := dev.containers("files")) and len(c) == 1 and c, 30)
    port = container["Labels"]["rise.dev/port"]
    assert shown.text.strip() == f"PORT={port} GREETING=hi there TOKEN=s3cret"


def test_hosts_that_name_no_app_reach_the_api(dev: DevProcess) -> None:
    assert httpx.get(f"{dev.url}/healthz").json() == {"status": "ok"}
    response = httpx.get(f"{dev.url}/healthz", headers={"host": f"localhost:{dev.port}"})
    assert response.json() == {"status": "ok"}
