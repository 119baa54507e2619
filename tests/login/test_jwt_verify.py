"""verify_jwt against a local issuer serving discovery and its JWKS over loopback HTTP.

Every refusal has its own test and checks the message names the failed check; key rotation
and the refetch limit are checked by counting the issuer's JWKS requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.server.jwt_verify import IssuerKeys, TokenRefused, verify_jwt
from tests.support.issuer import LocalIssuer, generate_key

AUDIENCE = "https://rise.example"
_FIXTURES_OK = [HealthCheck.function_scoped_fixture]  # the fixtures hold no per-example state


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def keys(issuer: LocalIssuer) -> IssuerKeys:
    return IssuerKeys(issuer.url)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join([*(_b64(p) for p in parts), _b64(signature)])


def _refused(token: str, keys: IssuerKeys, match: str, **kw: object) -> None:
    with pytest.raises(TokenRefused, match=match):
        verify_jwt(token, keys, audience=AUDIENCE, **kw)  # type: ignore[arg-type]


def test_a_valid_token_gives_its_claims(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud=AUDIENCE, repository="org/app"))
    claims = verify_jwt(token, keys, audience=AUDIENCE)
    assert claims["repository"] == "org/app" and claims["iss"] == issuer.url


def test_audience_may_be_a_list(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud=["other", AUDIENCE]))
    assert verify_jwt(token, keys, audience=AUDIENCE)["aud"] == ["other", AUDIENCE]


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "EdDSA"])
def test_every_asymmetric_family_verifies(alg: str) -> None:
    with LocalIssuer(alg) as other:
        token = other.mint(other.claims(aud=AUDIENCE))
        assert verify_jwt(token, IssuerKeys(other.url), audience=AUDIENCE)["aud"] == AUDIENCE


def test_alg_none_is_refused_before_any_key_is_fetched(issuer: LocalIssuer) -> None:
    keys = IssuerKeys(issuer.url)
    before = issuer.jwks_fetches
    token = _forge({"alg": "none", "kid": issuer.signing_kid}, issuer.claims(aud=AUDIENCE))
    _refused(token, keys, "algorithm 'none' is not accepted")
    assert issuer.jwks_fetches == before


def test_hs256_signed_with_the_public_key_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    # signed by hand: joserfc itself refuses a public key as an HMAC secret
    public_pem = issuer.keys[issuer.signing_kid].as_pem(private=False)
    unsigned = _forge({"alg": "HS256", "kid": issuer.signing_kid}, issuer.claims(aud=AUDIENCE))
    signing_input = unsigned.rsplit(".", 1)[0]
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(mac)}"
    _refused(token, keys, "algorithm 'HS256' is not accepted")


def test_wrong_issuer_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud=AUDIENCE, iss="https://token.example"))
    _refused(token, keys, r"issuer \(iss\) 'https://token.example' is not")


def test_wrong_audience_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud="https://other.example"))
    _refused(token, keys, r"audience \(aud\) 'https://other.example' does not include")


def test_missing_audience_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    _refused(issuer.mint(issuer.claims()), keys, r"audience \(aud\) None")


def test_expired_token_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    claims = issuer.claims(aud=AUDIENCE)
    token = issuer.mint(claims)
    _refused(token, keys, r"expired .* \(exp\)", now=lambda: claims["exp"] + 31)
    # within the leeway it still passes: clocks drift
    verify_jwt(token, keys, audience=AUDIENCE, now=lambda: claims["exp"] + 29)


def test_token_without_expiry_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    _refused(issuer.mint(issuer.claims(aud=AUDIENCE, exp=None)), keys, r"no expiry \(exp\)")


def test_not_yet_valid_token_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    claims = issuer.claims(aud=AUDIENCE)
    claims["nbf"] += 120
    _refused(issuer.mint(claims), keys, r"not valid for another .* \(nbf\)")


def test_token_issued_in_the_future_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    claims = issuer.claims(aud=AUDIENCE, nbf=None)
    claims["iat"] += 120
    _refused(issuer.mint(claims), keys, r"issued .* in the future \(iat\)")


def test_non_numeric_time_claim_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    _refused(issuer.mint(issuer.claims(aud=AUDIENCE, exp="soon")), keys, "'exp' is not a number")


def test_tampered_payload_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    header, _, signature = issuer.mint(issuer.claims(aud=AUDIENCE, ref="refs/heads/dev")).split(".")
    altered = _b64(json.dumps(issuer.claims(aud=AUDIENCE, ref="refs/heads/main")).encode())
    _refused(f"{header}.{altered}.{signature}", keys, "signature does not verify")


def test_signature_by_a_foreign_key_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud=AUDIENCE), key=generate_key("RS256"))
    _refused(token, keys, "signature does not verify")


def test_missing_kid_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = issuer.mint(issuer.claims(aud=AUDIENCE), header={"kid": None})
    _refused(token, keys, "no kid")


def test_key_of_another_type_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    token = _forge({"alg": "ES256", "kid": issuer.signing_kid}, issuer.claims(aud=AUDIENCE))
    _refused(token, keys, "RSA key that cannot verify ES256")


def test_algorithm_other_than_the_keys_declared_one_is_refused(
    issuer: LocalIssuer, keys: IssuerKeys
) -> None:
    token = issuer.mint(issuer.claims(aud=AUDIENCE), header={"alg": "PS256"})
    _refused(token, keys, "is for RS256, but the token says PS256")


def test_crit_header_is_refused(issuer: LocalIssuer, keys: IssuerKeys) -> None:
    header = {"alg": "RS256", "kid": issuer.signing_kid, "crit": ["exp"], "exp": 1}
    token = _forge(header, issuer.claims(aud=AUDIENCE))
    _refused(token, keys, "'crit'")


def test_unknown_kid_refetches_at_most_once_per_interval(issuer: LocalIssuer) -> None:
    now = [1000.0]
    keys = IssuerKeys(issuer.url, clock=lambda: now[0], min_refresh_seconds=30)
    verify_jwt(issuer.mint(issuer.claims(aud=AUDIENCE)), keys, audience=AUDIENCE)
    fetched = issuer.jwks_fetches
    for n in range(50):  # a flood of junk kids
        token = issuer.mint(issuer.claims(aud=AUDIENCE), header={"kid": f"junk-{n}"})
        _refused(token, keys, f"kid 'junk-{n}' is not in the key set")
    assert issuer.jwks_fetches == fetched, "the first fetch is still fresh: no refetch"
    now[0] += 30
    for n in range(50):
        token = issuer.mint(issuer.claims(aud=AUDIENCE), header={"kid": f"junk-{n}"})
        _refused(token, keys, "not in the key set")
    assert issuer.jwks_fetches == fetched + 1


def test_rotated_key_validates_without_a_restart(issuer: LocalIssuer) -> None:
    now = [0.0]
    keys = IssuerKeys(issuer.url, clock=lambda: now[0], min_refresh_seconds=30)
    old = issuer.mint(issuer.claims(aud=AUDIENCE))
    verify_jwt(old, keys, audience=AUDIENCE)
    issuer.rotate()
    new = issuer.mint(issuer.claims(aud=AUDIENCE))
    now[0] += 30
    assert verify_jwt(new, keys, audience=AUDIENCE)["aud"] == AUDIENCE
    assert verify_jwt(old, keys, audience=AUDIENCE)  # the old key is still published


def test_concurrent_unknown_kids_fetch_once(issuer: LocalIssuer) -> None:
    keys = IssuerKeys(issuer.url)
    keys.refresh()
    issuer.rotate()
    token = issuer.mint(issuer.claims(aud=AUDIENCE))
    before = issuer.jwks_fetches
    results: list[object] = []

    def verify() -> None:
        try:
            results.append(verify_jwt(token, keys, audience=AUDIENCE))
        except TokenRefused as exc:
            results.append(exc)

    # the refresh above was just now, so every thread finds the new kid unknown and too soon
    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert issuer.jwks_fetches == before
    assert all(isinstance(r, TokenRefused) for r in results)


def test_discovery_naming_another_issuer_is_refused() -> None:
    with LocalIssuer(announce_issuer="https://token.example") as liar:
        token = liar.mint(liar.claims(aud=AUDIENCE))
        _refused(token, IssuerKeys(liar.url), "names issuer 'https://token.example'")


def test_explicit_jwks_url_skips_discovery() -> None:
    with LocalIssuer(announce_issuer="https://token.example") as other:
        keys = IssuerKeys(other.url, jwks_url=other.jwks_url)
        assert verify_jwt(other.mint(other.claims(aud=AUDIENCE)), keys, audience=AUDIENCE)


def test_unreachable_issuer_says_so(issuer: LocalIssuer) -> None:
    keys = IssuerKeys("http://127.0.0.1:9", http=httpx.Client(timeout=2))
    _refused(issuer.mint(issuer.claims(aud=AUDIENCE)), keys, "could not be fetched: GET")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(st.text(max_size=40), min_size=1, max_size=5).map(".".join),
        st.lists(
            st.binary(max_size=60).map(_b64) | st.sampled_from(["e30", "bnVsbA", "W10", "IjEi"]),
            min_size=3,
            max_size=3,
        ).map(".".join),
    )
)
def test_malformed_tokens_only_ever_raise_token_refused(keys: IssuerKeys, token: str) -> None:
    with pytest.raises(TokenRefused):
        verify_jwt(token, keys, audience=AUDIENCE)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(max_size=80).map(_b64), signature=st.binary(max_size=300).map(_b64))
def test_junk_after_a_valid_header_only_ever_raises_token_refused(
    issuer: LocalIssuer, keys: IssuerKeys, payload: str, signature: str
) -> None:
    header = _b64(json.dumps({"alg": "RS256", "kid": issuer.signing_kid}).encode())
    with pytest.raises(TokenRefused, match=r"signature does not verify|not a JWT"):
        verify_jwt(f"{header}.{payload}.{signature}", keys, audience=AUDIENCE)


def test_odd_keys_in_the_set_do_not_hide_the_good_one() -> None:
    with LocalIssuer() as other:
        good = other.jwks()["keys"]
        junk = [
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {**good[0], "kid": "for-encryption", "use": "enc"},
            {**good[0], "kid": None},
            "not a key",
        ]
        other.jwks = lambda: {"keys": [*junk, *good]}  # type: ignore[method-assign]
        keys = IssuerKeys(other.url)
        assert verify_jwt(other.mint(other.claims(aud=AUDIENCE)), keys, audience=AUDIENCE)
        assert keys.kids == {other.signing_kid}
