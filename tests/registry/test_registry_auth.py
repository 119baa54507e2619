"""The registry itself enforces what rise's tokens say (distribution 2.8, token auth)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from reconciler.registry import Access, SigningKeys, TokenIssuer
from tests.support.registry import (
    ISSUER,
    SERVICE,
    RegistryStack,
    push_manifest,
    registry_token,
)


@pytest.fixture(scope="module")
def beta_digest(registry_stack: RegistryStack) -> str:
    """Project beta (bob's) holds an image, so a refusal is about scope, not existence."""
    return push_manifest(registry_stack, "bob", "beta", "v1")


def _challenge_error(response: httpx.Response) -> str | None:
    match = re.search(r'error="([^"]+)"', response.headers.get("www-authenticate", ""))
    return match.group(1) if match else None


def _get_manifest(stack: RegistryStack, repository: str, ref: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.registry.url}/v2/{repository}/manifests/{ref}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
    )


def test_owner_token_pulls_its_own_image(registry_stack: RegistryStack, beta_digest: str) -> None:
    token = registry_token(registry_stack, "bob", "repository:beta:pull")
    response = _get_manifest(registry_stack, "beta", beta_digest, token)
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == beta_digest


def test_token_for_project_a_cannot_pull_or_push_project_b(
    registry_stack: RegistryStack, beta_digest: str
) -> None:
    # alice asks for both; rise grants alpha only, and the registry enforces that.
    token = registry_token(
        registry_stack, "alice", "repository:alpha:pull,push", "repository:beta:pull,push"
    )
    pull = _get_manifest(registry_stack, "beta", beta_digest, token)
    assert pull.status_code == 401
    assert _challenge_error(pull) == "insufficient_scope"

    push = httpx.post(
        f"{registry_stack.registry.url}/v2/beta/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert push.status_code == 401
    assert _challenge_error(push) == "insufficient_scope"

    own = httpx.post(
        f"{registry_stack.registry.url}/v2/alpha/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert own.status_code == 202  # the same token does reach alpha


def test_expired_token_is_refused_by_the_registry(
    registry_stack: RegistryStack, beta_digest: str
) -> None:
    past = time.time() - 3600  # beyond distribution's 60 s leeway
    issuer = TokenIssuer(
        registry_stack.issuer.keys, service=SERVICE, issuer=ISSUER, ttl=300, clock=lambda: past
    )
    token = issuer.access_token("bob", [Access("repository", "beta", ("pull",))]).token
    response = _get_manifest(registry_stack, "beta", beta_digest, token)
    assert response.status_code == 401
    assert _challenge_error(response) == "invalid_token"


def test_token_signed_by_another_key_is_refused_by_the_registry(
    registry_stack: RegistryStack, beta_digest: str
) -> None:
    forger = TokenIssuer(SigningKeys.generate(), service=SERVICE, issuer=ISSUER)
    token = forger.access_token("bob", [Access("repository", "beta", ("pull",))]).token
    response = _get_manifest(registry_stack, "beta", beta_digest, token)
    assert response.status_code == 401
    assert _challenge_error(response) == "invalid_token"


def test_push_credential_is_not_a_registry_token(
    registry_stack: RegistryStack, beta_digest: str
) -> None:
    password = registry_stack.credentials("bob", "beta")["password"]
    response = _get_manifest(registry_stack, "beta", beta_digest, password)
    assert response.status_code == 401
    assert _challenge_error(response) == "invalid_token"


def test_registry_challenge_points_at_rise(registry_stack: RegistryStack) -> None:
    response = httpx.get(f"{registry_stack.registry.url}/v2/alpha/tags/list")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert f'realm="{registry_stack.api_url}/api/v1/registry/token"' in challenge
    assert f'service="{SERVICE}"' in challenge
    assert 'scope="repository:alpha:pull"' in challenge
