"""``rise render PROJECT --state PATH``: manifests from a real state repository."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.main import cli
from reconciler.secrets import MASK
from reconciler.state import Author, Edit, StateRepo
from tests.reconciler.golden import GOLDEN, golden_repo


@pytest.fixture
def repo(tmp_path: Path) -> StateRepo:
    return golden_repo(tmp_path / "state.git")


def _render(repo: StateRepo, *args: str, env: dict[str, str] | None = None):
    runner = CliRunner(env={"RISE_CONFIG": None, "RISE_STATE": None, **(env or {})})
    return runner.invoke(cli, ["render", *args, "--state", repo.path])


def test_prints_yaml_documents_in_dependency_order(repo: StateRepo) -> None:
    result = _render(repo, "my-first-app")
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == [
        "Namespace", "ServiceAccount", "Deployment", "Service", "Ingress", "NetworkPolicy"
    ]  # fmt: skip
    assert docs[2]["spec"]["template"]["spec"]["containers"][0]["image"].endswith("7081")


def test_json_output_is_a_kubernetes_list(repo: StateRepo) -> None:
    result = _render(repo, "secret-app", "-o", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "List"
    assert [i["kind"] for i in document["items"]] == ["Namespace", "ServiceAccount"]


def test_secrets_are_masked_unless_the_key_is_given(repo: StateRepo) -> None:
    masked = _render(repo, "vault", env={"RISE_PUBLIC_URL": "https://rise.example"})
    assert masked.exit_code == 0, masked.output
    assert "hunter2" not in masked.stdout and MASK in masked.stdout
    keyed = _render(
        repo,
        "vault",
        "--secrets-key",
        str(GOLDEN / "secrets.key"),
        env={"RISE_PUBLIC_URL": "https://rise.example"},
    )
    secret = next(d for d in yaml.safe_load_all(keyed.stdout) if d["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["DATABASE_URL"]) == b"postgres://vault:hunter2@db/vault"


def test_server_config_file_shapes_the_output(repo: StateRepo, tmp_path: Path) -> None:
    config = tmp_path / "rise.toml"
    config.write_text(
        'app_url_template = "https://{project}.apps.example.com"\n'
        "[kubernetes]\n"
        'namespace_format = "apps-{project}"\n'
        'ingress_class = "traefik"\n'
    )
    result = _render(repo, "my-first-app", "--config", str(config))
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0]["metadata"]["name"] == "apps-my-first-app"
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "my-first-app.apps.example.com"
    assert ingress["spec"]["ingressClassName"] == "traefik"


def test_an_older_ref_renders_what_was_there(repo: StateRepo) -> None:
    first = repo.head()

    def rescale(edit: Edit) -> str:
        text = edit.read("projects/my-first-app/.rise.toml")
        assert text is not None
        edit.write(
            "projects/my-first-app/.rise.toml",
            text.decode().replace("replicas = 2", "replicas = 3"),
        )
        return "scale my-first-app"

    repo.commit(rescale, Author("niklas"))
    now = yaml.safe_load_all(_render(repo, "my-first-app").stdout)
    before = yaml.safe_load_all(_render(repo, "my-first-app", "--ref", first or "").stdout)
    replicas = [next(d for d in docs if d["kind"] == "Deployment")["spec"]["replicas"]
                for docs in (now, before)]  # fmt: skip
    assert replicas == [3, 2]


def test_a_mistyped_project_gets_a_suggestion(repo: StateRepo) -> None:
    result = _render(repo, "my-firstapp")
    assert result.exit_code == 1
    assert "no project 'my-firstapp' at main — did you mean 'my-first-app'?" in result.stderr


def test_an_invalid_project_lists_its_problems_and_prints_no_manifest(repo: StateRepo) -> None:
    def break_it(edit: Edit) -> str:
        edit.write("projects/my-first-app/env.toml", b'[vars]\nPORT = "80"\n')
        return "set PORT"

    repo.commit(break_it, Author("niklas"))
    result = _render(repo, "my-first-app")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "projects/my-first-app/env.toml: PORT is set by rise" in result.stderr
    assert "project 'my-first-app' cannot be rendered" in result.stderr


def test_a_private_project_needs_the_server_url_for_forward_auth(repo: StateRepo) -> None:
    result = _render(repo, "vault", env={"RISE_PUBLIC_URL": None})
    assert result.exit_code == 1
    assert "projects/vault/project.toml: this project is private" in result.stderr


def test_a_bad_config_is_reported_with_the_file(repo: StateRepo, tmp_path: Path) -> None:
    config = tmp_path / "rise.toml"
    config.write_text('[kubernetes]\nnamespace_format = "shared"\n')
    result = _render(repo, "my-first-app", "--config", str(config))
    assert result.exit_code == 1
    assert "server config: kubernetes.namespace_format 'shared' must contain" in result.stderr
