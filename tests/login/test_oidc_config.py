"""``[[auth.oidc]]`` in the server's config: one or more providers, each checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.server.config import load_config
from schemas import SchemaError
from schemas.server import OidcConfig


def load(tmp_path: Path, text: str) -> list[OidcConfig]:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return list(load_config(path).auth.oidc)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(SchemaError) as caught:
        load(tmp_path, text)
    return str(caught.value)


PROVIDER = 'name = "corp"\nissuer = "https://sso.example.com/realms/x/"\nclient_id = "rise"\n'


def test_one_provider_as_a_table(tmp_path: Path):
    (corp,) = load(tmp_path, f"[auth.oidc]\n{PROVIDER}")
    assert corp.issuer == "https://sso.example.com/realms/x"
    assert corp.label == "corp"


def test_several_providers_need_different_names(tmp_path: Path):
    text = f"[[auth.oidc]]\n{PROVIDER}[[auth.oidc]]\n{PROVIDER}"
    assert "two [[auth.oidc]] providers are named 'corp'; rename one" in refusal(tmp_path, text)


def test_plain_http_only_on_loopback(tmp_path: Path):
    text = f"[auth.oidc]\n{PROVIDER}".replace("https://sso.example.com", "http://sso.example.com")
    assert "must be an https:// URL (http only on loopback)" in refusal(tmp_path, text)
    loopback = text.replace("http://sso.example.com", "http://127.0.0.1:9000")
    assert load(tmp_path, loopback)


def test_openid_is_always_a_scope(tmp_path: Path):
    (corp,) = load(tmp_path, f'[auth.oidc]\n{PROVIDER}scopes = ["email"]\n')
    assert corp.scopes == ["openid", "email"]


def test_group_teams_name_real_team_names(tmp_path: Path):
    text = f'[auth.oidc]\n{PROVIDER}group_teams = {{ "Eng" = "Team_X" }}\n'
    assert "name 'Team_X' must be lower-case" in refusal(tmp_path, text)
