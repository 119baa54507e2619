"""Declarative files: strict validation with errors that say what, where and how to fix."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    AppConfig,
    DeploymentFile,
    EnvFile,
    ProjectFile,
    SchemaError,
    ServerConfig,
    ServiceAccountFile,
    TeamFile,
    load_toml,
)
from schemas.names import MAX_NAME_LENGTH, name_problem, validate_name

DIGEST = "sha256:" + "a" * 64


def _error(text: str, model: type, file: str = "projects/web/.rise.toml") -> str:
    with pytest.raises(SchemaError) as info:
        load_toml(text, model, file)
    return str(info.value)


def test_the_transcripts_rise_toml_parses() -> None:
    app = load_toml('project = "secret-app"\n\n[build]\nbackend = "buildpacks"\n', AppConfig)
    assert app.project == "secret-app"
    assert app.build.backend == "buildpacks"
    assert app.deploy.port == 8080


def test_the_project_table_form_is_the_same_thing() -> None:
    assert load_toml('[project]\nname = "web"\n', AppConfig).project == "web"
    assert "did you mean 'name'" in _error('[project]\nnmae = "web"\n', AppConfig)


def test_a_mistyped_key_names_the_file_section_and_the_fix() -> None:
    message = _error('project = "web"\n[deploy]\nreplica = 3\n', AppConfig)
    assert message == (
        "projects/web/.rise.toml: unknown key 'replica' in [deploy] — did you mean 'replicas'?"
    )


def test_nested_sections_and_top_level_keys_get_suggestions_too() -> None:
    assert "unknown key 'replcas' in [environments.staging.deploy] — did you mean 'replicas'?" in (
        _error("[environments.staging.deploy]\nreplcas = 2\n", AppConfig)
    )
    assert "unknown key 'buld' at the top level — did you mean 'build'?" in _error(
        "[buld]\n", AppConfig
    )


def test_a_mistyped_value_suggests_the_allowed_one() -> None:
    message = _error('[build]\nbackend = "dockr"\n', AppConfig)
    assert "key 'backend' in [build]: 'dockr' is not one of" in message
    assert "did you mean 'docker'?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[deploy]\nreplicas = "3"\n',
            "key 'replicas' in [deploy]: Input should be a valid integer",
        ),
        ("[deploy]\nport = 70000\n", "key 'port' in [deploy]: Input should be less than or equal"),
        ('[deploy]\ncpu = "lots"\n', "'lots' is not a Kubernetes quantity"),
        ('[deploy]\nhealth = { path = "healthz" }\n', "must start with '/'"),
        ('[env]\n"1BAD" = "x"\n', "environment variable name '1BAD'"),
        ('[build]\nargs = ["NOEQUALS"]\n', "must be KEY=VALUE"),
        ("version = 2\n", "key 'version'"),
        ('project = "web\n', "malformed TOML"),
    ],
)
def test_wrong_values_are_precise(text: str, expected: str) -> None:
    assert expected in _error(text, AppConfig)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "path separators"),
        ("UPPER", "lower-case"),
        ("a" * 64, "64 characters long; the limit is 63"),
        ("a--b", "'--'"),
        ("-web", "starting and ending"),
        ("web-", "starting and ending"),
        ("we_b", "lower-case letters"),
        ("", "must not be empty"),
        ("..", "path separators"),
    ],
)
def test_bad_names_say_why(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert reason in problem


@given(st.text(max_size=80))
def test_every_accepted_name_is_a_safe_path_segment_and_dns_label(name: str) -> None:
    if name_problem(name) is None:
        assert validate_name(name) == name
        assert 1 <= len(name) <= MAX_NAME_LENGTH
        assert name.isascii() and name == name.lower()
        assert "/" not in name and "." not in name and "--" not in name
        assert name[0].isalnum() and name[-1].isalnum()


def test_project_owner_and_visibility() -> None:
    project = load_toml('owner = "team:devops"\nvisibility = "private"\n', ProjectFile)
    assert (project.owner, project.visibility) == ("team:devops", "private")
    assert "must be 'user:<name>' or 'team:<name>'" in _error('owner = "devops"\n', ProjectFile)
    assert "'secret' is not one of 'public', 'private'" in _error(
        'owner = "user:a"\nvisibility = "secret"\n', ProjectFile
    )
    assert "missing required key 'owner'" in _error("", ProjectFile)


def test_deployments_must_be_pinned_by_digest() -> None:
    base = 'id = "20261122-153012-ab12"\ncreated_by = "user:a"\ncreated_at = 2026-11-22T15:30:12Z\n'
    good = load_toml(base + f'image = "registry.rise.dev/web@{DIGEST}"\n', DeploymentFile)
    assert good.state == "running" and good.group == "default"
    assert "must be pinned by digest" in _error(
        base + 'image = "registry.rise.dev/web:latest"\n', DeploymentFile
    )
    for bad in ("Registry/Web", "r//w", "r/w:", "-r/w", "r/w\n", "r/w:-tag", "r/" + "w" * 260):
        text = base + f"image = {json.dumps(bad + '@' + DIGEST)}\n"
        assert "must be pinned by digest" in _error(text, DeploymentFile) or "limit is 327" in (
            _error(text, DeploymentFile)
        ), bad
    for fine in ("localhost:5000/a/b_c:1.0", "[::1]:5000/x", "r.io/a__b/c-d--e", "w"):
        load_toml(base + f'image = "{fine}@{DIGEST}"\n', DeploymentFile)
    assert "must look like '20261122-153012-ab12'" in _error(
        base.replace("20261122-153012-ab12", "yesterday") + f'image = "r/w@{DIGEST}"\n',
        DeploymentFile,
    )


def test_env_files_refuse_plain_secrets_and_duplicates() -> None:
    assert "never in clear" in _error('[secrets]\nTOKEN = "hunter2"\n', EnvFile)
    cipher = "v1:" + "A" * 40
    assert "both plain and secret" in _error(
        f'[vars]\nA = "1"\n[secrets]\nA = "{cipher}"\n', EnvFile
    )


def test_teams_and_service_accounts() -> None:
    assert load_toml('owners = ["niklas"]\nmembers = ["alice"]\n', TeamFile).includes("alice")
    assert "at least one owner" in _error('members = ["alice"]\n', TeamFile)
    assert "at least one claim matcher" in _error(
        'issuer = "https://token.actions.githubusercontent.com"\n[claims]\n', ServiceAccountFile
    )


def test_server_config_defaults_and_typos() -> None:
    config = load_toml("", ServerConfig)
    assert config.runtime.kind == "rendered"
    assert config.registry.service == "rise-registry"
    assert "did you mean 'kind'" in _error('[runtime]\nkinds = "docker"\n', ServerConfig)
