"""Inputs, expected outputs and helpers of the render and diff tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.render import PullSecret, RenderSettings
from reconciler.secrets import SecretBox
from reconciler.state import ProjectState, StateRepo
from reconciler.state.seed import read_seed
from reconciler.validate import ManifestValidator, latest_version
from schemas import AppConfig, DeploymentFile, EnvFile, ProjectFile, load_toml

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parent
IMAGE = "registry.rise.dev/web@sha256:" + "ab" * 32

# Every optional feature switched on, so the golden files show each of them.
FULL_SETTINGS = RenderSettings(
    ingress_class="nginx",
    ingress_annotations={"cert-manager.io/cluster-issuer": "letsencrypt"},
    tls_secret="{project}-tls",
    pull_secret=PullSecret("registry.rise.dev", "puller", "pull-password-123"),
    forward_auth_url="https://rise.example/auth/ingress",
    forward_auth_signin_url="https://rise.example/oauth/signin",
    ingress_namespace="ingress-nginx",
)
VALIDATORS = [ManifestValidator("1.30"), ManifestValidator(latest_version())]


def golden_box() -> SecretBox:
    return SecretBox.from_file(GOLDEN / "secrets.key")


def golden_repo(path: Path) -> StateRepo:
    """The example state repository plus the golden-only project ``vault``."""
    files = {**read_seed(ROOT / "examples" / "state"), **read_seed(GOLDEN / "state")}
    return StateRepo.init(path, files=files)


def project(
    name: str = "web",
    *,
    project_toml: str = 'owner = "user:niklas"\n',
    rise_toml: str | None = "",
    deployment_toml: str | None = None,
    env_toml: str | None = None,
) -> ProjectState:
    """A project state from file texts, validated the way the state repo validates them."""
    if deployment_toml is None:
        deployment_toml = (
            f'id = "20261122-153012-ab12"\nimage = "{IMAGE}"\n'
            'created_by = "user:niklas"\ncreated_at = 2026-11-22T15:30:12Z\n'
        )
    return ProjectState(
        name=name,
        tree_id="",
        project=load_toml(project_toml, ProjectFile),
        app=load_toml(rise_toml, AppConfig) if rise_toml is not None else None,
        deployment=load_toml(deployment_toml, DeploymentFile) if deployment_toml else None,
        env=load_toml(env_toml, EnvFile) if env_toml is not None else None,
    )


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}
