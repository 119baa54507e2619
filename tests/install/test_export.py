"""``rise install --export``: the manifests a platform team applies, checked as Kubernetes would.

No cluster needed: strict OpenAPI validation with kubernetes-validate for every supported
Kubernetes version, and the properties the issue asks for, read from the printed YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.state import StateRepo
from reconciler.validate import supported_versions
from tests.install.conftest import run_rise, values_text, write_values

# rise supports the Kubernetes versions from this one to the newest kubernetes-validate knows.
OLDEST_SUPPORTED = (1, 30)
VERSIONS = [v for v in supported_versions() if tuple(map(int, v.split("."))) >= OLDEST_SUPPORTED]

FULL = """\
namespace = "platform-rise"
name = "rise"
image = "rise:1.2.3"
public_url = "https://rise.example.com"
admins = ["alice"]
lease_seconds = 10
[resources]
memory_limit = "1Gi"
[ingress]
enabled = true
host = "rise.example.com"
class_name = "nginx"
tls_secret = "rise-tls"
annotations = { "cert-manager.io/cluster-issuer" = "letsencrypt" }
[state]
url = "https://git.example.com/platform/state.git"
username = "rise-bot"
credentials_secret = "state-credentials"
[apps]
url_template = "https://{project}.apps.example.com"
ingress_class = "nginx"
registry_url = "registry.example.com"
"""


@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    import kubernetes_validate  # slow to import: once per session

    return kubernetes_validate


def export(*args: str) -> list[dict[str, Any]]:
    result = run_rise("install", "--export", *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = write_values(tmp_path_factory.mktemp("values") / "values.toml", FULL)
    return export("--values", str(path))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return export()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_passes_strict_validation(
    kubernetes_validate: Any, full: list[dict[str, Any]], local: list[dict[str, Any]], version: str
) -> None:
    for obj in full + local:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_objects_of_an_install(full: list[dict[str, Any]]) -> None:
    kinds = [o["kind"] for o in full]
    assert kinds == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Ingress",
    ]
    for obj in full:
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "rise-install"
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "platform-rise"
    assert not by_kind(full, "Secret"), "the keys Secret is made by --apply, never printed"


def test_the_deployment_runs_two_replicas_safely(full: list[dict[str, Any]]) -> None:
    [deployment] = by_kind(full, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "rise"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod["initContainers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert set(container["resources"]) == {"requests", "limits"}
    [rise] = pod["containers"]
    assert rise["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert rise["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert rise["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"]: e for e in rise["env"]}
    assert env["STATE_REPO_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "state-credentials",
        "key": "password",
    }
    assert env["RISE_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "rise-keys"
    [pdb] = by_kind(full, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_the_server_configuration_elects_a_leader_and_reads_the_remote(
    full: list[dict[str, Any]],
) -> None:
    from schemas import ServerConfig, load_toml

    [config_map] = by_kind(full, "ConfigMap")
    config = load_toml(config_map["data"]["config.toml"], ServerConfig)
    assert config.runtime.kind == "kubernetes"
    assert config.kubernetes.kubeconfig is None, "in the pod: the service account"
    assert config.kubernetes.leader_election
    assert (config.kubernetes.lease_namespace, config.kubernetes.lease_seconds) == (
        "platform-rise",
        10,
    )
    assert config.state.url == "https://git.example.com/platform/state.git"
    assert config.state.password_env == "STATE_REPO_PASSWORD"
    assert config.public_url == "https://rise.example.com"
    assert config.auth.admins == ["alice"]
    [ingress] = by_kind(full, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["rise.example.com"], "secretName": "rise-tls"}]


def test_a_local_state_repository_gets_a_volume_and_one_replica(
    local: list[dict[str, Any]],
) -> None:
    [claim] = by_kind(local, "PersistentVolumeClaim")
    [deployment] = by_kind(local, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert not by_kind(local, "Ingress")


def test_rbac_grants_no_wildcards_and_the_lease_only_in_its_namespace(
    full: list[dict[str, Any]],
) -> None:
    roles = by_kind(full, "ClusterRole") + by_kind(full, "Role")
    for role in roles:
        for rule in role["rules"]:
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(key, []), (role["metadata"]["name"], rule)
    [cluster_role] = by_kind(full, "ClusterRole")
    assert not any("leases" in r["resources"] for r in cluster_role["rules"])
    [role] = by_kind(full, "Role")
    assert {res for r in role["rules"] for res in r["resources"]} == {"leases"}


def test_the_cluster_role_covers_every_kind_the_app_templates_render(
    full: list[dict[str, Any]], example_repo: StateRepo
) -> None:
    """A kind added to templates/*.yaml.j2 without a rule here fails this test."""
    from reconciler.render import RenderSettings, render_project
    from reconciler.render.settings import PullSecret
    from reconciler.runtimes.kubeapi import kind

    [cluster_role] = by_kind(full, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    pull = PullSecret("registry.example.com", "puller", "pull-password")
    settings = RenderSettings(ingress_class="nginx", pull_secret=pull)
    kinds = {
        obj["kind"]
        for state in example_repo.snapshot().projects.values()
        for obj in render_project(state, settings, None)
    }
    assert {"Namespace", "ServiceAccount", "Deployment", "Service", "Ingress"} <= kinds
    for name in kinds:
        where = kind(name)
        group = where.api_version.rpartition("/")[0]
        for verb in ("list", "create", "patch", "delete"):
            assert (group, where.plural, verb) in granted, (name, verb)


def test_bad_values_say_file_key_and_fix_and_print_nothing(tmp_path: Path) -> None:
    path = write_values(tmp_path / "values.toml", "replicas = 2\n[ingres]\nenabled = true\n")
    result = run_rise("install", "--export", "--values", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{path}: unknown key 'ingres' at the top level — did you mean 'ingress'?" in (
        result.stderr
    )
    write_values(path, values_text("ok") + "[ingress]\nenabled = true\n")
    result = run_rise("install", "--export", "--values", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert "[ingress] enabled = true needs [ingress] host" in result.stderr
    write_values(path, 'replicas = 3\nimage_pull_policy = "Allways"\n')
    result = run_rise("install", "--export", "--values", str(path))
    assert "'Allways' is not one of 'Always', 'IfNotPresent', 'Never' — did you mean" in (
        result.stderr
    )
    missing = run_rise("install", "--export", "--values", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read the file" in missing.stderr


def test_the_app_renderer_never_reads_the_install_templates() -> None:
    from reconciler.render.engine import TEMPLATES_DIR, _templates

    origins = [t.origin for t in _templates(None)]
    assert origins and all(origin.parent == TEMPLATES_DIR for origin in origins)


def test_without_export_or_apply_it_says_what_to_do() -> None:
    result = run_rise("install")
    assert result.returncode == 2
    assert "say what to do: --export (print) or --apply (apply to a cluster)" in result.stderr
