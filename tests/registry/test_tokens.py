"""The token spec: scope parsing, what gets granted, and what the JWTs carry."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from reconciler.registry import Access, ScopeError, SigningKeys, TokenIssuer, parse_scopes

KEYS = SigningKeys.generate()
NOW = 1_900_000_000


def issuer(**kwargs: object) -> TokenIssuer:
    options: dict = {"service": "reg", "issuer": "rise", "ttl": 300, "clock": lambda: NOW}
    return TokenIssuer(KEYS, **{**options, **kwargs})


def _segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- scope parsing ------------------------------------------------------------------------


def test_parse_scopes_reads_repeated_and_space_separated_values() -> None:
    scopes = parse_scopes(
        ["repository:team/web:pull,push", "repository:api:pull registry:catalog:*"]
    )
    assert scopes == [
        Access("repository", "team/web", ("pull", "push")),
        Access("repository", "api", ("pull",)),
        Access("registry", "catalog", ("*",)),
    ]


def test_parse_scopes_merges_actions_for_one_resource() -> None:
    assert parse_scopes(["repository:web:pull", "repository:web:push,pull"]) == [
        Access("repository", "web", ("pull", "push"))
    ]


def test_repository_names_may_carry_a_registry_port() -> None:
    assert parse_scopes(["repository:localhost:5000/web:pull"]) == [
        Access("repository", "localhost:5000/web", ("pull",))
    ]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("repository:web", "type:name:actions"),
        ("repository", "type:name:actions"),
        ("Repo!:web:pull", "type:name:actions"),
        ("repository:Web:pull", "is not a repository name"),
        ("repository:../etc:pull", "is not a repository name"),
        ("repository:web:pull;rm", "is not an action"),
    ],
)
def test_malformed_scopes_are_precise_errors(scope: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message) as info:
        parse_scopes([scope])
    assert repr(scope) in str(info.value)


_component = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_names = st.lists(_component, min_size=1, max_size=4).map("/".join)
_actions = st.lists(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1, unique=True)


@given(name=_names, actions=_actions)
def test_scope_round_trips(name: str, actions: list[str]) -> None:
    access = Access("repository", name, tuple(actions))
    assert parse_scopes([str(access)]) == [access]


@given(st.text(max_size=80))
def test_any_scope_text_parses_or_is_a_scope_error(text: str) -> None:
    with contextlib.suppress(ScopeError):
        parse_scopes([text])


# --- granting --------------------------------------------------------------------------------


def _allowed(table: dict[str, set[str]]):
    return lambda project: table.get(project, set())


def test_grant_is_the_intersection_with_what_the_caller_may_do() -> None:
    requested = parse_scopes(
        [
            "repository:web:pull,push,delete",
            "repository:api:pull,push",
            "repository:other:pull",
            "registry:catalog:*",
            "repository:web/sub:pull",
            "repository(plugin):web:pull",
        ]
    )
    granted = issuer().grant(requested, _allowed({"web": {"pull", "push"}, "api": {"pull"}}))
    assert granted == [
        Access("repository", "web", ("pull", "push")),
        Access("repository", "api", ("pull",)),
    ]


def test_grant_maps_repositories_through_the_prefix() -> None:
    team = issuer(prefix="apps/")
    allowed = _allowed({"web": {"pull", "push"}})
    assert team.grant(parse_scopes(["repository:apps/web:push"]), allowed) == [
        Access("repository", "apps/web", ("push",))
    ]
    assert team.grant(parse_scopes(["repository:web:push"]), allowed) == []
    assert team.repository("web") == "apps/web"
    assert team.project_of("apps/Web") is None


# --- tokens ---------------------------------------------------------------------------------


def test_access_token_has_the_claims_distribution_demands() -> None:
    token = issuer().access_token("alice", [Access("repository", "web", ("pull",))])
    header, claims = _segment(token.token, 0), _segment(token.token, 1)
    assert header["alg"] == "ES256"
    assert header["x5c"] == KEYS.x5c
    assert claims["aud"] == "reg"  # a string: a list is refused by distribution 2.8
    assert claims["iss"] == "rise"
    assert claims["sub"] == "alice"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 300)
    assert claims["access"] == [{"type": "repository", "name": "web", "actions": ["pull"]}]
    public = ECKey.import_key(
        KEYS.leaf.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    registry = JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 4096  # x5c makes the header larger than joserfc's default
    jwt.decode(token.token, public, registry=registry)  # signed by the leaf's key
    other = issuer().access_token("alice", [])
    assert _segment(other.token, 1)["jti"] != claims["jti"]


def test_credential_round_trips_and_caps_tokens_made_from_it() -> None:
    tokens = issuer()
    credential = tokens.credential("alice", "web", {"push", "pull"})
    read = tokens.read_credential(credential.token)
    assert read is not None
    assert read.subject == "alice"
    assert read.access == (Access("repository", "web", ("pull", "push")),)
    assert "x5c" not in _segment(credential.token, 0)

    later = issuer(clock=lambda: NOW + 200)
    derived = later.access_token("alice", read.access, not_after=read.expires_at)
    assert derived.expires_at == read.expires_at == NOW + 300  # never outlives the credential


@pytest.mark.parametrize(
    "case", ["expired", "other-key", "registry-token", "tampered", "alg-none", "garbage"]
)
def test_only_valid_credentials_of_this_issuer_are_read(case: str) -> None:
    tokens = issuer()
    good = tokens.credential("alice", "web", {"pull"}).token
    header, payload, signature = good.split(".")
    forged = {
        "expired": lambda: issuer(clock=lambda: NOW - 301).credential("a", "web", {"pull"}).token,
        "other-key": lambda: (
            TokenIssuer(SigningKeys.generate(), service="reg", issuer="rise", clock=lambda: NOW)
            .credential("alice", "web", {"pull"})
            .token
        ),
        "registry-token": lambda: tokens.access_token("alice", []).token,
        "tampered": lambda: ".".join(
            (header, _b64({**_segment(good, 1), "sub": "admin"}), signature)
        ),
        "alg-none": lambda: ".".join((_b64({"alg": "none", "typ": "JWT"}), payload, "")),
        "garbage": lambda: "a.b.c",
    }[case]()
    assert tokens.read_credential(forged) is None
    assert tokens.read_credential(good) is not None


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_verified_credential_still_expires() -> None:
    now = [float(NOW)]
    tokens = issuer(clock=lambda: now[0])
    credential = tokens.credential("alice", "web", {"pull"}).token
    assert tokens.read_credential(credential) is not None  # verified, and remembered
    now[0] += 299
    assert tokens.read_credential(credential) is not None
    now[0] += 1
    assert tokens.read_credential(credential) is None
