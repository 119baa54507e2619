"""Claim matchers of service accounts, and the ``--claim NAME=VALUE`` parser of ``rise sa``."""

from __future__ import annotations

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.service_accounts import _claims, create
from reconciler.server.trusted_issuers import claims_match, matching_accounts, unverified_issuer
from schemas import SchemaError, ServiceAccountFile, parse_model
from schemas.service_account import claim_problem

ISSUER = "https://token.actions.githubusercontent.com"
GITHUB = {
    "sub": "repo:org/app:ref:refs/heads/main",
    "repository": "org/app",
    "ref": "refs/heads/main",
    "run_id": 42,
}


@pytest.mark.parametrize(
    ("matchers", "matches"),
    [
        ({"repository": "org/app"}, True),
        ({"repository": "org/app", "ref": "refs/heads/main"}, True),
        ({"repository": "org/app", "ref": "refs/heads/dev"}, False),  # every one must match
        ({"ref": "refs/heads/*"}, True),
        ({"ref": "refs/tags/*"}, False),
        ({"sub": "repo:org/*:ref:refs/heads/main"}, True),
        ({"repository": "org/ap?"}, True),
        ({"repository": "org/[ab]pp"}, True),
        ({"repository": "Org/App"}, False),  # case-sensitive
        ({"repository": "org/app2"}, False),
        ({"environment": "production"}, False),  # missing claim
        ({"run_id": "42"}, False),  # only string claims match
        ({}, False),
    ],
)
def test_claims_match(matchers: dict[str, str], matches: bool) -> None:
    assert claims_match(matchers, GITHUB) is matches


@given(st.text(alphabet=st.characters(blacklist_characters="*?["), min_size=1), st.text())
def test_a_value_without_glob_characters_matches_only_itself(pattern: str, value: str) -> None:
    assert claims_match({"c": pattern}, {"c": value}) is (pattern == value)


def test_matching_accounts_filters_by_issuer_and_finds_all() -> None:
    def account(issuer: str, **claims: str) -> ServiceAccountFile:
        return ServiceAccountFile(issuer=issuer, claims=claims)

    accounts = [
        ("app", "ci", account(ISSUER, repository="org/app")),
        ("app", "other-issuer", account("https://gitlab.com", repository="org/app")),
        ("lib", "wide", account(ISSUER, repository="org/*")),
        ("lib", "narrow", account(ISSUER, repository="org/lib")),
    ]
    assert matching_accounts(ISSUER, GITHUB, accounts) == [("app", "ci"), ("lib", "wide")]


@pytest.mark.parametrize(
    ("name", "pattern", "problem"),
    [
        ("repository", "*", "matches anything"),
        ("repository", "**", "matches anything"),
        ("repository", "", "needs a value"),
        ("aud", "x", "checked by rise itself"),
        ("exp", "1", "checked by rise itself"),
        ("bad name", "x", "must start with a letter"),
        ("9lives", "x", "must start with a letter"),
        ("repository", "x" * 513, "the limit is 512"),
    ],
)
def test_claim_problems(name: str, pattern: str, problem: str) -> None:
    assert problem in (claim_problem(name, pattern) or "")


def test_the_account_file_refuses_plain_http_issuers() -> None:
    with pytest.raises(SchemaError, match="must be an https:// URL"):
        parse_model({"issuer": "http://ci.example", "claims": {"a": "b"}}, ServiceAccountFile, "sa")


@given(st.lists(st.text(max_size=30), max_size=4))
def test_the_claim_option_parses_or_says_how(values: list[str]) -> None:
    ctx = click.Context(create)
    param = next(p for p in create.params if p.name == "claims")
    try:
        parsed = _claims(ctx, param, tuple(values))
    except click.BadParameter as exc:
        assert "NAME=VALUE" in str(exc) or "given twice" in str(exc)
        return
    assert len(parsed) == len(values)
    for value in values:
        name, _, pattern = value.partition("=")
        assert parsed[name.strip()] == pattern


@given(st.text(max_size=300))
def test_unverified_issuer_never_raises(token: str) -> None:
    issuer = unverified_issuer(token)
    assert issuer is None or isinstance(issuer, str)
