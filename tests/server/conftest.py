"""A real ``rise server`` in a subprocess on 127.0.0.1, and a small HTTP client for it.

``server`` (one per test module) runs ``rise server --data-dir DIR --host 127.0.0.1 --port N``
with ``RISE_ADMIN_PASSWORD`` and ``RISE_WEBHOOK_SECRET`` set, exactly as an operator would;
``start_server`` starts more for tests that stop or configure one. ``Api`` wraps httpx with a
base URL and an optional token; ``server.user(name)`` creates a user through the API (as the
admin) and returns a client logged in as that user.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.waiting import free_port, signal_and_wait, wait_for_http

ADMIN_PASSWORD = "admin-password-1"
WEBHOOK_SECRET = "webhook-secret-1"
USER_PASSWORD = "user-password-1"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def image(project: str, n: int = 0) -> str:
    """A pinned image reference, different for each ``n``."""
    digest = f"{n:064x}"
    return f"registry.rise.dev/{project}@sha256:{digest}"


class Api:
    """httpx against one server, optionally with a Bearer token."""

    def __init__(self, url: str, token: str | None = None, username: str | None = None):
        self.url = url
        self.token = token
        self.username = username
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=30)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.put(path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.patch(path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)

    def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        """Send, assert the status (showing the error body if not), return the JSON."""
        response = self.http.request(method, path, json=json)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()


@dataclass
class RunningServer:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    users: dict[str, Api] = field(default_factory=dict)

    @property
    def state_repo(self) -> Path:
        return self.data_dir / "state.git"

    def anonymous(self) -> Api:
        return Api(self.url)

    def login(self, username: str, password: str) -> Api:
        response = httpx.post(
            f"{self.url}/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return Api(self.url, response.json()["access_token"], username)

    def admin(self) -> Api:
        if "admin" not in self.users:
            self.users["admin"] = self.login("admin", ADMIN_PASSWORD)
        return self.users["admin"]

    def user(self, name: str) -> Api:
        """A client logged in as ``name``, created on first use."""
        if name not in self.users:
            self.admin().ok(
                "POST", "/api/v1/users", {"username": name, "password": USER_PASSWORD}, 201
            )
            self.users[name] = self.login(name, USER_PASSWORD)
        return self.users[name]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def terminate(self, timeout: float = 40) -> int:
        """SIGTERM, as an orchestrator stops it; the exit status."""
        return signal_and_wait(self.process, signal.SIGTERM, timeout, self.log)


def start_server(
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    cwd: Path | None = None,
    port: int | None = None,
) -> RunningServer:
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
    env.update(
        RISE_ADMIN_PASSWORD=ADMIN_PASSWORD, RISE_WEBHOOK_SECRET=WEBHOOK_SECRET, **(extra_env or {})
    )
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    command = [sys.executable, "-m", "cli.main", "server", "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), *args]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=out, cwd=cwd or Path(__file__).parents[2]
        )
    running = RunningServer(f"http://127.0.0.1:{port}", port, data_dir, process, log_path)
    try:
        wait_for_http(f"{running.url}/readyz", lambda r: r.status_code == 200, process, 30)
    except RuntimeError as exc:
        running.terminate()
        raise RuntimeError(f"rise server did not start ({exc}):\n{running.log()[-3000:]}") from None
    return running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server") / "data")
    yield running
    running.terminate()


class InProcessServer:
    """The app of a test-built context served by uvicorn in a thread (lifespan included),
    for tests that hand the server their own controller."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.01)
        self._client = httpx.Client(base_url=self.url, timeout=30)
        return self._client

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        self._server.should_exit = True
        self._thread.join(30)


@contextlib.contextmanager
def kube_server(kubeconfig: Path, data_dir: Path, project: str) -> Iterator[httpx.Client]:
    """A server whose loop reconciles onto the cluster of ``kubeconfig``, logged in as the
    admin, with ``project`` created (and deleted after: a real cluster gets its namespace
    back)."""
    from reconciler.server.app import create_app
    from reconciler.server.config import load_config
    from reconciler.server.context import build_context

    flags = {
        "data_dir": str(data_dir),
        "runtime.kind": "kubernetes",
        "runtime.rollout_poll_seconds": 0.2,
        "kubernetes.kubeconfig": str(kubeconfig),
        "kubernetes.leader_election": False,
    }
    ctx = build_context(load_config(flags=flags), {"RISE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with InProcessServer(create_app(ctx)) as http:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = http.post("/api/v1/auth/login", json=login).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        assert http.post("/api/v1/projects", json={"name": project}).status_code == 201
        yield http
        http.delete(f"/api/v1/projects/{project}")
