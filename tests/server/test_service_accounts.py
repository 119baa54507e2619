"""Service accounts at the API of a running server that trusts a local issuer on loopback.

The issuer serves discovery and its JWKS over HTTP and mints GitHub-Actions-shaped tokens;
the server fetches its keys as it would GitHub's. Each refused token has its own case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import Api, RunningServer, image
from tests.support.issuer import (
    LocalIssuer,
    generate_key,
    github_actions_claims,
    start_trusting_server,
)

AUDIENCE = "rise-ci"
ACCOUNTS = "/api/v1/projects/{}/service-accounts"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer
) -> Iterator[RunningServer]:
    running = start_trusting_server(tmp_path_factory.mktemp("service-accounts"), issuer, AUDIENCE)
    admin = running.admin()
    for project in ("app", "other"):
        admin.ok("POST", "/api/v1/projects", {"name": project, "visibility": "public"}, 201)
    admin.ok(
        "POST",
        ACCOUNTS.format("app"),
        {
            "name": "ci",
            "issuer": issuer.url,
            "claims": {"repository": "org/app", "ref": "refs/heads/*"},
        },
        201,
    )
    yield running
    running.terminate()


def _as(server: RunningServer, token: str) -> Api:
    return Api(server.url, token)


def _ci(server: RunningServer, issuer: LocalIssuer, **claims: Any) -> Api:
    return _as(server, issuer.mint(github_actions_claims(issuer, AUDIENCE, **claims)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_github_actions_token_deploys_lists_shows_and_stops_its_project(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    ci = _ci(server, issuer)
    assert ci.ok("GET", "/api/v1/me")["kind"] == "service-account"
    created = ci.ok("POST", "/api/v1/projects/app/deployments", {"image": image("app", 1)}, 201)
    assert created["created_by"] == "service-account:app/ci"
    rows = ci.ok("GET", "/api/v1/projects/app/deployments")
    assert created["id"] in [row["id"] for row in rows]
    assert ci.ok("GET", f"/api/v1/projects/app/deployments/{created['id']}")["id"] == created["id"]
    assert ci.ok("GET", "/api/v1/projects/app")["name"] == "app"
    push = ci.ok("POST", "/api/v1/projects/app/registry-credentials", {"actions": ["push"]})
    assert push["repository"].endswith("app")
    ci.ok("POST", "/api/v1/projects/app/deployments/stop")
    # the state repository says who did it
    log = server.admin().ok("GET", "/api/v1/projects/app/deployments")
    assert all(row["created_by"] == "service-account:app/ci" for row in log[:1])


def test_a_feature_branch_matches_the_ref_glob(server: RunningServer, issuer: LocalIssuer) -> None:
    ci = _ci(server, issuer, ref="refs/heads/feature/x")
    assert ci.ok("GET", "/api/v1/me")["username"] == "app/ci"
    tag = _ci(server, issuer, ref="refs/tags/v1")
    response = tag.get("/api/v1/me")
    assert response.status_code == 401
    assert "no service account matches" in response.json()["message"]
    assert "ref='refs/tags/v1'" in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/projects/other/deployments", {"image": image("other")}),
        ("GET", "/api/v1/projects/other", None),
        ("GET", "/api/v1/projects/other/deployments", None),
        ("POST", "/api/v1/projects/other/deployments/stop", None),
    ],
)
def test_the_same_token_on_another_project_is_refused(
    server: RunningServer, issuer: LocalIssuer, method: str, path: str, body: Any
) -> None:
    response = _ci(server, issuer).http.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert "belongs to project 'app' and may not use project 'other'" in response.json()["message"]


def test_push_credentials_for_another_project_are_refused(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    ci = _ci(server, issuer)
    response = ci.post("/api/v1/projects/other/registry-credentials", {"actions": ["push"]})
    assert response.status_code == 403, response.text
    assert "may not use project 'other'" in response.json()["message"]
    pull = ci.get("/api/v1/registry/token", params={"scope": "repository:other:pull,push"})
    granted = pull.json().get("access", []) if pull.status_code == 200 else []
    assert granted == [], pull.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/v1/projects/app/env/LOG_LEVEL", {"value": "debug"}),
        ("GET", "/api/v1/projects/app/env", None),
        ("DELETE", "/api/v1/projects/app", None),
        ("PATCH", "/api/v1/projects/app", {"visibility": "private"}),
        ("POST", "/api/v1/projects", {"name": "made-by-ci"}),
        ("GET", "/api/v1/projects", None),
        ("POST", "/api/v1/teams", {"name": "ci-team"}),
        ("POST", ACCOUNTS.format("app"), {"name": "x", "issuer": "y", "claims": {"a": "b"}}),
        ("GET", ACCOUNTS.format("app"), None),
        ("POST", "/api/v1/projects/app/deployments/some-id/rollback", None),
        ("GET", "/api/v1/users", None),
    ],
)
def test_a_service_account_may_do_nothing_else(
    server: RunningServer, issuer: LocalIssuer, method: str, path: str, body: Any
) -> None:
    response = _ci(server, issuer).http.request(method, path, json=body)
    assert response.status_code == 403, f"{method} {path}: {response.text}"
    assert f"service account 'app/ci' may not {method}" in response.json()["message"]
    assert server.admin().get("/api/v1/projects/app").status_code == 200


def test_an_ambiguous_match_is_refused_never_guessed(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    admin = server.admin()
    body = {"name": "org-wide", "issuer": issuer.url, "claims": {"repository": "org/*"}}
    admin.ok("POST", ACCOUNTS.format("other"), body, 201)
    try:
        response = _ci(server, issuer).get("/api/v1/me")
        assert response.status_code == 401
        message = response.json()["message"]
        assert "matches several service accounts (app/ci, other/org-wide)" in message
        # a token only the wider account matches still works
        assert _ci(server, issuer, repository="org/lib").ok("GET", "/api/v1/me")["username"] == (
            "other/org-wide"
        )
    finally:
        admin.ok("DELETE", f"{ACCOUNTS.format('other')}/org-wide")
    assert _ci(server, issuer).ok("GET", "/api/v1/me")["username"] == "app/ci"


def _hs256_with_public_key(issuer: LocalIssuer) -> str:
    header = _b64(json.dumps({"alg": "HS256", "kid": issuer.signing_kid}).encode())
    payload = _b64(json.dumps(github_actions_claims(issuer, AUDIENCE)).encode())
    secret = issuer.keys[issuer.signing_kid].as_pem(private=False)
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(mac)}"


def _alg_none(issuer: LocalIssuer) -> str:
    header = _b64(json.dumps({"alg": "none", "kid": issuer.signing_kid}).encode())
    return f"{header}.{_b64(json.dumps(github_actions_claims(issuer, AUDIENCE)).encode())}."


def _tampered(issuer: LocalIssuer) -> str:
    header, _, signature = issuer.mint(
        github_actions_claims(issuer, AUDIENCE, repository="org/lib")
    ).split(".")
    payload = _b64(json.dumps(github_actions_claims(issuer, AUDIENCE)).encode())
    return f"{header}.{payload}.{signature}"


def _claims(issuer: LocalIssuer, **changes: Any) -> str:
    claims = github_actions_claims(issuer, AUDIENCE)
    claims.update(changes)
    return issuer.mint(claims)


REFUSED = {
    "alg none": (_alg_none, "algorithm 'none' is not accepted"),
    "HS256 signed with the public key": (_hs256_with_public_key, "algorithm 'HS256'"),
    "wrong audience": (lambda i: _claims(i, aud="someone-else"), "audience (aud)"),
    "expired": (lambda i: _claims(i, exp=int(time.time()) - 120), "expired"),
    "not yet valid": (lambda i: _claims(i, nbf=int(time.time()) + 600), "(nbf)"),
    "unknown kid": (
        lambda i: i.mint(
            github_actions_claims(i, AUDIENCE), kid="no-such-key", key=generate_key("RS256")
        ),
        "kid 'no-such-key'",
    ),
    "tampered payload": (_tampered, "signature does not verify"),
    "signed by another key": (
        lambda i: i.mint(github_actions_claims(i, AUDIENCE), key=generate_key("RS256")),
        "signature does not verify",
    ),
    "untrusted issuer": (
        lambda i: _claims(i, iss="https://token.example"),
        "tokens issued by 'https://token.example' are not accepted here",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_tokens_get_a_401_that_says_why(
    server: RunningServer, issuer: LocalIssuer, case: str
) -> None:
    mint, reason = REFUSED[case]
    response = _as(server, mint(issuer)).post(
        "/api/v1/projects/app/deployments", {"image": image("app", 2)}
    )
    assert response.status_code == 401, response.text
    assert reason in response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_rotated_key_validates_without_a_restart(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    assert _ci(server, issuer).ok("GET", "/api/v1/me")  # the server holds the current keys
    new_kid = issuer.rotate(drop_old=True)
    time.sleep(0.6)  # past jwks_refresh_seconds since the server's last fetch
    token = issuer.mint(github_actions_claims(issuer, AUDIENCE))
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == new_kid
    ci = _as(server, token)
    assert ci.ok("GET", "/api/v1/me")["username"] == "app/ci"


# -- managing service accounts ----------------------------------------------------------------


def test_only_owners_create_and_remove_members_list(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    owner, member = server.user("sa-owner"), server.user("sa-member")
    owner.ok("POST", "/api/v1/teams", {"name": "sa-team", "members": ["sa-member"]}, 201)
    owner.ok("POST", "/api/v1/projects", {"name": "team-app", "owner": "team:sa-team"}, 201)
    body = {"name": "deploy", "issuer": issuer.url, "claims": {"repository": "org/team-app"}}
    refused = member.post(ACCOUNTS.format("team-app"), body)
    assert refused.status_code == 403 and "only owners of project" in refused.json()["message"]
    created = owner.ok("POST", ACCOUNTS.format("team-app"), body, 201)
    assert created["created_by"] == "sa-owner" and created["commit"]
    assert [a["name"] for a in member.ok("GET", ACCOUNTS.format("team-app"))] == ["deploy"]
    shown = member.ok("GET", f"{ACCOUNTS.format('team-app')}/deploy")
    assert shown["claims"] == {"repository": "org/team-app"}
    outsider = server.user("sa-outsider")
    assert outsider.get(ACCOUNTS.format("team-app")).status_code == 403
    assert member.delete(f"{ACCOUNTS.format('team-app')}/deploy").status_code == 403
    owner.ok("DELETE", f"{ACCOUNTS.format('team-app')}/deploy")
    assert owner.ok("GET", ACCOUNTS.format("team-app")) == []


def test_the_account_file_lands_in_the_state_repository(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    import pygit2

    repo = pygit2.Repository(str(server.state_repo))
    blob = repo.revparse_single("main:service-accounts/app/ci.toml")
    text = blob.data.decode()  # type: ignore[attr-defined]
    assert f'issuer = "{issuer.url}"' in text and 'ref = "refs/heads/*"' in text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"issuer": "https://token.example"}, 400, "is not one this server trusts"),
        ({"claims": {}}, 400, "at least one claim matcher"),
        ({"claims": {"repository": "*"}}, 400, "matches anything"),
        ({"claims": {"aud": "rise-ci"}}, 400, "checked by rise itself"),
        ({"claims": {"bad name": "x"}}, 400, "claim name 'bad name'"),
        ({"name": "Bad_Name"}, 400, "name 'Bad_Name' must be lower-case"),
        ({"name": "ci"}, 409, "already exists in project 'app'"),
    ],
)
def test_bad_input_is_refused_precisely(
    server: RunningServer, issuer: LocalIssuer, body: dict[str, Any], status: int, message: str
) -> None:
    full = {"name": "new-one", "issuer": issuer.url, "claims": {"repository": "org/x"}, **body}
    response = server.admin().post(ACCOUNTS.format("app"), full)
    assert response.status_code == status, response.text
    assert message in response.json()["message"], response.json()


def test_an_untrusted_issuer_names_the_trusted_ones(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    body = {"name": "x", "issuer": issuer.url + "/", "claims": {"repository": "org/x"}}
    answer = server.admin().post(ACCOUNTS.format("app"), body).json()
    assert f"did you mean {issuer.url!r}" in answer["message"]
    assert answer["hint"] == f"trusted issuers: {issuer.url}"


def test_removing_an_unknown_account_suggests_a_close_one(server: RunningServer) -> None:
    answer = server.admin().delete(f"{ACCOUNTS.format('app')}/cii")
    assert answer.status_code == 404
    assert "did you mean 'ci'?" in answer.json()["hint"]


def test_a_removed_account_no_longer_authenticates(
    server: RunningServer, issuer: LocalIssuer
) -> None:
    admin = server.admin()
    body = {"name": "short-lived", "issuer": issuer.url, "claims": {"repository": "org/tmp"}}
    admin.ok("POST", ACCOUNTS.format("other"), body, 201)
    ci = _ci(server, issuer, repository="org/tmp")
    assert ci.ok("GET", "/api/v1/me")["username"] == "other/short-lived"
    admin.ok("DELETE", f"{ACCOUNTS.format('other')}/short-lived")
    assert ci.get("/api/v1/me").status_code == 401


def test_openapi_documents_the_endpoints(server: RunningServer) -> None:
    paths = httpx.get(f"{server.url}/api/v1/openapi.json").json()["paths"]
    assert set(paths[ACCOUNTS.format("{project}")]) >= {"get", "post"}
    assert set(paths[ACCOUNTS.format("{project}") + "/{account}"]) >= {"get", "delete"}
