"""A provider's user signed in on one replica is known to every replica sharing its keys.

Replicas keep users in their own data dir; only the signing keys are shared (the install's
keys Secret). A rise token of a provider's user carries who they are at the provider, so a
replica that did not see the sign-in knows them from the token alone, and never as someone
else who has that name there.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.server.users import ProviderIdentity, UserStore
from tests.login.conftest import FAST
from tests.server.conftest import RunningServer, start_server
from tests.support.oidc_provider import (
    CLIENT_SECRET,
    SECRET_VARIABLE,
    OidcProvider,
    provider_config,
    stopped_after,
)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    yield from stopped_after(OidcProvider(tmp_path_factory.mktemp("provider"), {}))


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider
) -> Iterator[tuple[RunningServer, RunningServer]]:
    env = {**FAST, "RISE_AUTH__OIDC": json.dumps([provider_config(provider)])}
    env[SECRET_VARIABLE] = CLIENT_SECRET
    first = start_server(tmp_path_factory.mktemp("replica-a") / "data", env)
    second_data = tmp_path_factory.mktemp("replica-b") / "data"
    shutil.copytree(first.data_dir / "keys", second_data / "keys")  # as the keys Secret is
    second = start_server(second_data, env)
    provider.start([f"{first.url}/oauth/oidc/corp/callback"])
    yield first, second
    first.terminate()
    second.terminate()


def _signed_in_on(server: RunningServer, provider: OidcProvider, login: str) -> httpx.Client:
    visitor = httpx.Client(base_url=server.url, timeout=30)
    callback = f"{server.url}/oauth/oidc/corp/callback"
    location = provider.follow_login(
        visitor, f"{callback[: -len('callback')]}start", login, callback
    )
    assert visitor.get(location).status_code == 303
    return visitor


def test_a_token_from_one_replica_works_on_another(
    replicas: tuple[RunningServer, RunningServer], provider: OidcProvider
) -> None:
    first, second = replicas
    visitor = _signed_in_on(first, provider, "dana")
    access, refresh = visitor.cookies["rise_session"], visitor.cookies["rise_refresh"]

    me = httpx.get(f"{second.url}/api/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "corp-dana"
    renewed = httpx.post(f"{second.url}/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert renewed.status_code == 200, renewed.text
    # The second replica now knows the user as the provider's, not as a password user.
    users = second.admin().ok("GET", "/api/v1/users")
    (dana,) = [u for u in users if u["username"] == "corp-dana"]
    assert dana["provider"] == "corp"


def test_a_local_token_is_not_carried_over(replicas: tuple[RunningServer, RunningServer]) -> None:
    """Local users stay per replica: only provider identities travel in tokens."""
    first, second = replicas
    first.admin().ok(
        "POST", "/api/v1/users", {"username": "erin", "password": "pw-erin-12345"}, 201
    )
    login = httpx.post(
        f"{first.url}/api/v1/auth/login", json={"username": "erin", "password": "pw-erin-12345"}
    )
    token = login.json()["access_token"]
    refused = httpx.get(f"{second.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert "no longer exists" in refused.json()["message"]


def test_an_identity_never_takes_over_a_name_held_by_another(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    corp = ProviderIdentity("corp", "https://idp.example", "sub-1")
    other = ProviderIdentity("corp", "https://idp.example", "sub-2")
    adopted = users.adopt("corp-dana", corp)
    assert adopted is not None and adopted.identity == corp
    assert users.adopt("corp-dana", other) is None  # the name is someone else's here
    assert users.adopt("corp-dana-2", corp) is None  # this identity has another name here
    assert users.adopt("corp-dana", corp) == adopted
    users.create("frank", "pw-frank-12345")
    assert users.adopt("frank", other) is None  # a local user is never a provider's
