"""The registry token routes every server mounts, deciding with the server's own
``authenticate`` and ``project_actions`` (the contract the registry code relies on)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.server.app import create_app
from reconciler.server.config import load_config
from reconciler.server.context import build_context
from tests.server.conftest import ADMIN_PASSWORD, USER_PASSWORD, InProcessServer


def _login(client: httpx.Client, user: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    ctx = build_context(
        load_config(flags={"data_dir": str(tmp_path)}), {"RISE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    with InProcessServer(create_app(ctx)) as http:
        admin = {"Authorization": f"Bearer {_login(http, 'admin', ADMIN_PASSWORD)}"}
        for user in ("owner", "stranger"):
            body = {"username": user, "password": USER_PASSWORD}
            assert http.post("/api/v1/users", json=body, headers=admin).status_code == 201
        owner = {"Authorization": f"Bearer {_login(http, 'owner', USER_PASSWORD)}"}
        body = {"name": "app", "visibility": "private"}
        assert http.post("/api/v1/projects", json=body, headers=owner).status_code == 201
        yield http


def test_push_credentials_follow_project_permissions(client: httpx.Client) -> None:
    url = "/api/v1/projects/app/registry-credentials"
    owner = _login(client, "owner", USER_PASSWORD)
    stranger = _login(client, "stranger", USER_PASSWORD)
    granted = client.post(url, headers={"Authorization": f"Bearer {owner}"})
    assert granted.status_code == 200, granted.text
    assert granted.json()["repository"] == "app"
    refused = client.post(url, headers={"Authorization": f"Bearer {stranger}"})
    assert refused.status_code == 404  # private: the same answer as a missing project


@pytest.mark.parametrize("how", ["password", "token"])
def test_docker_logins_get_scoped_registry_tokens(client: httpx.Client, how: str) -> None:
    def token_for(user: str) -> dict[str, object]:
        secret = USER_PASSWORD if how == "password" else _login(client, user, USER_PASSWORD)
        response = client.get(
            "/api/v1/registry/token",
            params={"service": "rise-registry", "scope": "repository:app:push,pull"},
            headers=_basic(user, secret),
        )
        assert response.status_code == 200, response.text
        return _claims(response.json()["token"])

    assert token_for("owner")["access"] == [
        {"type": "repository", "name": "app", "actions": ["pull", "push"]}
    ]
    assert token_for("stranger")["access"] == []


def test_rise_server_registry_flags_reach_the_token_endpoint(tmp_path: Path) -> None:
    from tests.server.conftest import start_server

    running = start_server(
        tmp_path / "data",
        args=("--registry-url", "127.0.0.1:5002", "--registry-service", "test-registry"),
    )
    try:
        admin = running.admin()
        admin.ok("POST", "/api/v1/projects", {"name": "web", "visibility": "public"}, 201)
        creds = admin.ok("POST", "/api/v1/projects/web/registry-credentials")
        assert creds["registry"] == "127.0.0.1:5002"
        answer = httpx.get(
            f"{running.url}/api/v1/registry/token",
            params={"service": "test-registry", "scope": "repository:web:push,pull"},
            headers=_basic("admin", ADMIN_PASSWORD),
        )
        assert answer.status_code == 200, answer.text
        claims = _claims(answer.json()["token"])
        assert claims["aud"] == "test-registry"
        assert claims["access"] == [
            {"type": "repository", "name": "web", "actions": ["pull", "push"]}
        ]
    finally:
        assert running.terminate() == 0
