"""``rise install --export --format compose``: one host, no Kubernetes; examples/compose.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.install.conftest import ROOT, run_rise, write_values


def test_the_committed_example_is_what_the_command_prints() -> None:
    result = run_rise("install", "--export", "--format", "compose")
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "examples" / "compose.yaml").read_text()
    assert result.stdout == committed, (
        "examples/compose.yaml is stale: rise install --export --format compose "
        "> examples/compose.yaml"
    )


def test_rise_runs_on_the_docker_runtime_beside_a_registry_that_trusts_it() -> None:
    compose = yaml.safe_load((ROOT / "examples" / "compose.yaml").read_text())
    rise, registry = compose["services"]["rise"], compose["services"]["registry"]
    assert rise["environment"]["RISE_RUNTIME__KIND"] == "docker"
    assert "rise-data:/data" in rise["volumes"]
    assert rise["read_only"] is True and rise["cap_drop"] == ["ALL"]
    auth = registry["environment"]
    assert auth["REGISTRY_AUTH"] == "token"
    assert auth["REGISTRY_AUTH_TOKEN_REALM"] == "http://localhost:8000/api/v1/registry/token"
    assert auth["REGISTRY_AUTH_TOKEN_SERVICE"] == rise["environment"]["RISE_REGISTRY__SERVICE"]
    assert "rise-data:/rise:ro" in registry["volumes"]
    assert set(compose["volumes"]) == {"rise-data", "registry-data"}


def test_the_values_file_sets_image_and_public_url(tmp_path: Path) -> None:
    values = 'image = "rise:9.9"\npublic_url = "https://rise.example.com"\n'
    path = write_values(tmp_path / "values.toml", values)
    result = run_rise("install", "--export", "--format", "compose", "--values", str(path))
    compose = yaml.safe_load(result.stdout)
    assert compose["services"]["rise"]["image"] == "rise:9.9"
    realm = compose["services"]["registry"]["environment"]["REGISTRY_AUTH_TOKEN_REALM"]
    assert realm == "https://rise.example.com/api/v1/registry/token"


def test_compose_is_for_export_only() -> None:
    result = run_rise("install", "--apply", "--format", "compose")
    assert result.returncode == 2 and "--format compose is for --export" in result.stderr
