"""The registry routes over real HTTP: token endpoint, CA bundle, push credentials."""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx
import pytest

from tests.support.registry import SERVICE, RegistryStack, user_token


def _claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _token(
    stack: RegistryStack, *scopes: str, user: str | None = "alice", service: str = SERVICE
) -> httpx.Response:
    return httpx.get(
        f"{stack.api_url}/api/v1/registry/token",
        params=[("service", service), ("account", user or ""), *(("scope", s) for s in scopes)],
        auth=(user, user_token(user)) if user else None,
    )


def _access(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token"] == body["access_token"]
    return list(_claims(body["token"])["access"])


def _credentials(stack: RegistryStack, user: str | None, project: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {user_token(user)}"} if user else {}
    return httpx.post(
        f"{stack.api_url}/api/v1/projects/{project}/registry-credentials", headers=headers, **kwargs
    )


def test_token_grants_owner_push_and_pull(registry_stack: RegistryStack) -> None:
    response = _token(registry_stack, "repository:alpha:push,pull")
    assert _access(response) == [
        {"type": "repository", "name": "alpha", "actions": ["pull", "push"]}
    ]
    body = response.json()
    assert body["expires_in"] == 300
    assert dt.datetime.fromisoformat(body["issued_at"]).tzinfo is not None


def test_token_grants_only_what_the_caller_may_do(registry_stack: RegistryStack) -> None:
    response = _token(
        registry_stack,
        "repository:alpha:pull,push",
        "repository:beta:pull,push",  # bob's private project
        "repository:open:pull,push",  # bob's public project: pull only
        "repository:shared:pull,push",  # alice owns the team
        "registry:catalog:*",
    )
    assert _access(response) == [
        {"type": "repository", "name": "alpha", "actions": ["pull", "push"]},
        {"type": "repository", "name": "open", "actions": ["pull"]},
        {"type": "repository", "name": "shared", "actions": ["pull", "push"]},
    ]


def test_unknown_service_gets_a_token_without_access(registry_stack: RegistryStack) -> None:
    assert _access(_token(registry_stack, "repository:alpha:pull", service="elsewhere")) == []


def test_token_without_credentials_is_401_with_a_basic_challenge(
    registry_stack: RegistryStack,
) -> None:
    response = _token(registry_stack, "repository:alpha:pull", user=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="rise"'
    assert response.json()["error"] == "unauthorized"
    assert "rise login" in response.json()["hint"]


def test_wrong_password_is_401(registry_stack: RegistryStack) -> None:
    response = httpx.get(
        f"{registry_stack.api_url}/api/v1/registry/token",
        params={"service": SERVICE, "scope": "repository:alpha:pull"},
        auth=("alice", "not-her-token"),
    )
    assert response.status_code == 401


def test_malformed_scope_is_400_naming_it(registry_stack: RegistryStack) -> None:
    response = _token(registry_stack, "repository:Alpha!:pull")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "'repository:Alpha!:pull'" in response.json()["message"]


def test_push_credentials_reach_exactly_one_project(registry_stack: RegistryStack) -> None:
    response = _credentials(registry_stack, "alice", "alpha")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    creds = response.json()
    assert set(creds) == {"registry", "repository", "username", "password", "expires_at"}
    assert creds["registry"] == registry_stack.registry.host
    assert creds["repository"] == "alpha"
    assert creds["username"] == "alice"
    expires = dt.datetime.fromisoformat(creds["expires_at"])
    assert dt.timedelta(0) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=300)

    # The password is good at the token endpoint (as docker and buildah use it) for alpha only.
    login = (creds["username"], creds["password"])
    response = httpx.get(
        f"{registry_stack.api_url}/api/v1/registry/token",
        params=[
            ("service", SERVICE),
            ("scope", "repository:alpha:pull,push"),
            ("scope", "repository:shared:pull,push"),
        ],
        auth=login,
    )
    assert _access(response) == [
        {"type": "repository", "name": "alpha", "actions": ["pull", "push"]}
    ]
    assert _claims(response.json()["token"])["exp"] <= expires.timestamp()


def test_pull_credentials_cannot_mint_push_tokens(registry_stack: RegistryStack) -> None:
    creds = _credentials(registry_stack, "alice", "open", json={"actions": ["pull"]}).json()
    response = httpx.get(
        f"{registry_stack.api_url}/api/v1/registry/token",
        params={"service": SERVICE, "scope": "repository:open:pull,push"},
        auth=(creds["username"], creds["password"]),
    )
    assert _access(response) == [{"type": "repository", "name": "open", "actions": ["pull"]}]


def test_private_and_missing_projects_look_the_same(registry_stack: RegistryStack) -> None:
    private = _credentials(registry_stack, "alice", "beta")
    missing = _credentials(registry_stack, "alice", "no-such-project")
    assert private.status_code == missing.status_code == 404
    assert private.json()["error"] == missing.json()["error"] == "not_found"
    assert private.json()["hint"] == missing.json()["hint"]


def test_readers_may_pull_but_not_push(registry_stack: RegistryStack) -> None:
    refused = _credentials(registry_stack, "alice", "open")
    assert refused.status_code == 403
    assert "not push" in refused.json()["message"]
    allowed = _credentials(registry_stack, "alice", "open", json={"actions": ["pull"]})
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("project", "body", "status", "error"),
    [
        ("Alpha", None, 400, "invalid_name"),
        ("alpha", {"actions": ["delete"]}, 400, "invalid_actions"),
        ("alpha", {"actions": []}, 400, "invalid_actions"),
        ("alpha", [1, 2], 400, "invalid_body"),
    ],
)
def test_bad_credential_requests_are_precise_errors(
    registry_stack: RegistryStack, project: str, body: object, status: int, error: str
) -> None:
    response = _credentials(registry_stack, "alice", project, json=body)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["hint"]


def test_credentials_need_a_rise_login(registry_stack: RegistryStack) -> None:
    response = _credentials(registry_stack, None, "alpha")
    assert response.status_code == 401
    expired_looking = httpx.post(
        f"{registry_stack.api_url}/api/v1/projects/alpha/registry-credentials",
        headers={"Authorization": "Bearer nobody-token"},
    )
    assert expired_looking.status_code == 401


def test_ca_bundle_is_the_one_the_registry_trusts(registry_stack: RegistryStack) -> None:
    response = httpx.get(f"{registry_stack.api_url}/api/v1/registry/token-ca.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    assert response.content == (registry_stack.workdir / "keys" / "ca.pem").read_bytes()
