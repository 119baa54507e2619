"""The broker's ID token checks against a real provider (npm oidc-provider) and its JWKS.

Each refused token is built here with joserfc: signed with the provider's own signing key
(the test holds it), with another key, or altered after signing. The broker fetches the
provider's discovery document and keys over HTTP, as in production. A valid token of the
same shape is accepted first, so each refusal is caused by the one thing changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from reconciler.server.jwt_verify import TokenRefused
from reconciler.server.oidc import OidcError, ProviderClient
from schemas.server import OidcConfig
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    OidcProvider,
    new_key,
    provider_config,
    stopped_after,
)

NONCE = "the-nonce-of-this-sign-in"
CALLBACK = "http://127.0.0.1:9/oauth/oidc/corp/callback"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    running = OidcProvider(tmp_path_factory.mktemp("provider"), {"alice": ["eng"]})
    running.start([CALLBACK])
    yield from stopped_after(running)


@pytest.fixture
def broker(provider: OidcProvider) -> ProviderClient:
    return ProviderClient(OidcConfig(**provider_config(provider)), client_secret=CLIENT_SECRET)


def claims(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": provider.issuer,
        "sub": "alice",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def refused(broker: ProviderClient, token: str, nonce: str = NONCE) -> str:
    with pytest.raises(TokenRefused) as caught:
        broker.validate_id_token(token, nonce)
    return str(caught.value)


def test_a_token_the_provider_signs_is_accepted(broker: ProviderClient, provider: OidcProvider):
    accepted = broker.validate_id_token(provider.mint(claims(provider)), NONCE)
    assert accepted["sub"] == "alice"


def test_a_real_id_token_of_the_provider_is_accepted(
    broker: ProviderClient, provider: OidcProvider
):
    tokens = provider.sign_in_directly("alice", CALLBACK, NONCE)
    assert broker.validate_id_token(tokens["id_token"], NONCE)["sub"] == "alice"


def test_alg_none_is_refused(broker: ProviderClient, provider: OidcProvider):
    header = _b64({"alg": "none", "kid": provider.signing_key.kid, "typ": "JWT"})
    token = f"{header}.{_b64(claims(provider))}."
    assert "'none' is not accepted" in refused(broker, token)


def test_hs256_signed_with_the_public_key_is_refused(
    broker: ProviderClient, provider: OidcProvider
):
    # Built by hand: joserfc itself refuses a public key as an HMAC secret.
    public_pem = provider.signing_key.as_pem(private=False)
    signed = f"{_b64({'alg': 'HS256', 'kid': provider.signing_key.kid})}.{_b64(claims(provider))}"
    mac = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    token = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "'HS256' is not accepted" in refused(broker, token)


def test_a_wrong_issuer_is_refused(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider, iss="https://evil.example"))
    assert "issuer (iss) 'https://evil.example'" in refused(broker, token)


def test_a_wrong_audience_is_refused(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider, aud="another-client"))
    assert "audience (aud) 'another-client'" in refused(broker, token)


def test_several_audiences_need_azp_to_be_us(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider, aud=[CLIENT_ID, "other"], azp="other"))
    assert "azp 'other' is not this client" in refused(broker, token)


def test_an_expired_token_is_refused(broker: ProviderClient, provider: OidcProvider):
    now = int(time.time())
    token = provider.mint(claims(provider, iat=now - 900, exp=now - 600))
    assert "expired" in refused(broker, token)


def test_a_token_not_yet_valid_is_refused(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider, nbf=int(time.time()) + 600))
    assert "not valid for another" in refused(broker, token)


def test_an_unknown_kid_is_refused(broker: ProviderClient, provider: OidcProvider):
    stranger = new_key()  # a key the provider never published
    token = provider.mint(claims(provider), key=stranger)
    assert f"kid {stranger.kid!r} is not in the key set" in refused(broker, token)


def test_a_known_kid_with_a_foreign_signature_is_refused(
    broker: ProviderClient, provider: OidcProvider
):
    token = provider.mint(claims(provider), key=new_key(), header={"kid": provider.signing_key.kid})
    assert "signature does not verify" in refused(broker, token)


def test_a_tampered_payload_is_refused(broker: ProviderClient, provider: OidcProvider):
    header, _, signature = provider.mint(claims(provider)).split(".")
    forged = _b64(claims(provider, sub="admin"))
    assert "signature does not verify" in refused(broker, f"{header}.{forged}.{signature}")


def test_a_wrong_nonce_is_refused(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider))
    assert "nonce does not match" in refused(broker, token, nonce="another-sign-in")


def test_a_token_without_nonce_is_refused(broker: ProviderClient, provider: OidcProvider):
    token = provider.mint(claims(provider, nonce=None))
    assert "nonce does not match" in refused(broker, token)


def test_an_algorithm_the_provider_does_not_announce_is_refused(
    broker: ProviderClient, provider: OidcProvider
):
    fields = {k: v for k, v in provider.signing_key.as_dict(private=True).items() if k != "alg"}
    same_key = RSAKey.import_key(fields)  # the provider's own key, signing PS256 instead
    token = provider.mint(claims(provider), key=same_key, algorithm="PS256")
    assert "'PS256' is not accepted for ID tokens" in refused(broker, token)


def test_discovery_only_from_the_configured_issuer(tmp_path: Path, provider: OidcProvider):
    """A provider configured under another URL than its own issuer is not believed."""
    lying = provider_config(provider, issuer=provider.issuer.replace("127.0.0.1", "localhost"))
    client = ProviderClient(OidcConfig(**lying), client_secret=CLIENT_SECRET)
    with pytest.raises(OidcError, match="discovery names issuer"):
        client.begin(CALLBACK)


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
