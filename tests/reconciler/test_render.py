"""Rendering projects into Kubernetes objects: golden files, contract, errors, overrides."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.render import (
    SPEC_HASH,
    RenderError,
    RenderSettings,
    fit_name,
    render_project,
    render_snapshot,
    spec_hash,
)
from reconciler.secrets import MASK, SecretBox
from reconciler.state import ProjectState
from schemas import SchemaError, ServerConfig, parse_model
from tests.reconciler.golden import (
    FULL_SETTINGS,
    GOLDEN,
    VALIDATORS,
    by_kind,
    container,
    env_of,
    golden_box,
    golden_repo,
    one,
    project,
)

ORDER = ["Namespace", "ServiceAccount", "Secret", "Deployment", "Service", "Ingress"]


@pytest.fixture(scope="module")
def golden_states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProjectState]:
    repo = golden_repo(tmp_path_factory.mktemp("golden") / "state.git")
    return repo.snapshot().projects


def _dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True, width=1 << 16)


# -- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my-first-app", "docs-site", "secret-app", "vault"])
def test_rendered_output_matches_the_golden_file(
    golden_states: dict[str, ProjectState], name: str
) -> None:
    text = _dump(render_project(golden_states[name], FULL_SETTINGS, None))
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("RISE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs; RISE_UPDATE_GOLDEN=1 rewrites it"


@pytest.mark.parametrize("name", ["my-first-app", "docs-site", "secret-app", "vault"])
def test_every_golden_object_is_strictly_valid_for_1_30_and_the_newest_kubernetes(
    golden_states: dict[str, ProjectState], name: str
) -> None:
    for obj in render_project(golden_states[name], FULL_SETTINGS, golden_box()):
        for validator in VALIDATORS:
            assert validator.problems(obj) == [], (validator.version, obj["kind"])


# -- the contract other modules rely on ----------------------------------------------------


def test_objects_come_in_dependency_order_with_labels_and_a_content_hash(
    golden_states: dict[str, ProjectState],
) -> None:
    objects = render_project(golden_states["vault"], FULL_SETTINGS, golden_box())
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "ServiceAccount", "Secret", "Secret", *ORDER[3:], "NetworkPolicy"]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "rise"
        assert labels["rise.dev/project"] == "vault"
        if obj["kind"] != "Secret":  # Secrets are hashed sealed; see the secrets tests
            unhashed = copy.deepcopy(obj)
            del unhashed["metadata"]["annotations"][SPEC_HASH]
            if not unhashed["metadata"]["annotations"]:
                del unhashed["metadata"]["annotations"]
            assert obj["metadata"]["annotations"][SPEC_HASH] == spec_hash(unhashed)
    deployment = one(objects, "Deployment")
    assert deployment["metadata"]["name"] == "vault-20261122-153012-ab12"
    assert deployment["metadata"]["labels"]["rise.dev/deployment-id"] == "20261122-153012-ab12"
    assert deployment["metadata"]["labels"]["rise.dev/group"] == "default"
    selector = one(objects, "Service")["spec"]["selector"]
    assert selector == {
        "rise.dev/project": "vault",
        "rise.dev/deployment-id": "20261122-153012-ab12",
    }
    assert deployment["spec"]["selector"]["matchLabels"] == selector


def test_the_same_input_always_renders_the_same_hashes(
    golden_states: dict[str, ProjectState],
) -> None:
    first = render_project(golden_states["my-first-app"], FULL_SETTINGS, None)
    again = render_project(golden_states["my-first-app"], FULL_SETTINGS, None)
    assert first == again
    changed = project("my-first-app", rise_toml="[deploy]\nreplicas = 3\n")
    hashes = {o["kind"]: o["metadata"]["annotations"][SPEC_HASH] for o in first}
    other = {
        o["kind"]: o["metadata"]["annotations"][SPEC_HASH]
        for o in render_project(changed, FULL_SETTINGS, None)
    }
    assert hashes["Namespace"] == other["Namespace"]
    assert hashes["Deployment"] != other["Deployment"]


def test_a_project_without_a_deployment_renders_only_namespace_and_service_account() -> None:
    objects = render_project(project(deployment_toml=""), RenderSettings(), None)
    assert [o["kind"] for o in objects] == ["Namespace", "ServiceAccount"]


def test_a_stopped_deployment_keeps_its_objects_with_zero_replicas(
    golden_states: dict[str, ProjectState],
) -> None:
    objects = render_project(golden_states["docs-site"], RenderSettings(), None)
    assert one(objects, "Deployment")["spec"]["replicas"] == 0
    assert by_kind(objects, "Ingress")


def test_the_deployment_runs_restricted_with_probes_resources_and_platform_variables(
    golden_states: dict[str, ProjectState],
) -> None:
    objects = render_project(golden_states["vault"], FULL_SETTINGS, golden_box())
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    app = container(objects)
    assert one(objects, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert app["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    assert app["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert app["readinessProbe"]["initialDelaySeconds"] == 5
    assert app["resources"] == {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"memory": "256Mi"},
    }
    env = env_of(objects)
    assert env["PORT"] == "3000"
    assert env["RISE_APP_URL"] == "https://vault.rise.dev"
    assert env["GREETING"] == "hello from staging"  # deployment.toml picked [environments.staging]
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "app-env", "key": "DATABASE_URL"}}
    assert pod["imagePullSecrets"] == [{"name": "app-registry"}]
    assert app["command"] == ["/app/server"]


def test_a_project_without_health_settings_gets_tcp_probes_and_server_default_resources() -> None:
    objects = render_project(project(), RenderSettings(default_cpu="50m"), None)
    app = container(objects)
    assert app["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert app["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}


def test_ingress_host_tls_class_and_forward_auth_for_private_projects(
    golden_states: dict[str, ProjectState],
) -> None:
    private = one(render_project(golden_states["vault"], FULL_SETTINGS, None), "Ingress")
    assert private["spec"]["rules"][0]["host"] == "vault.rise.dev"
    assert private["spec"]["tls"] == [{"secretName": "vault-tls", "hosts": ["vault.rise.dev"]}]
    assert private["spec"]["ingressClassName"] == "nginx"
    annotations = private["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-url"] == (
        "https://rise.example/auth/ingress?project=vault"
    )
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    public = one(render_project(golden_states["my-first-app"], FULL_SETTINGS, None), "Ingress")
    assert "nginx.ingress.kubernetes.io/auth-url" not in public["metadata"]["annotations"]


def test_a_plain_http_url_template_gives_an_ingress_without_tls() -> None:
    settings = RenderSettings(app_url_template="http://{project}.apps.local:8080/")
    ingress = one(render_project(project(), settings, None), "Ingress")
    assert "tls" not in ingress["spec"]
    assert ingress["spec"]["rules"][0]["host"] == "web.apps.local"


def test_names_stay_valid_for_the_longest_project_name() -> None:
    name = "a" * 63
    objects = render_project(project(name), RenderSettings(), None)
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63
        assert len(obj["metadata"].get("namespace", "")) <= 63
    assert one(objects, "Namespace")["metadata"]["name"] == fit_name("rise-" + name)
    assert fit_name("rise-" + name) != fit_name("rise-" + "a" * 62 + "b")
    for validator in VALIDATORS:
        assert all(validator.problems(o) == [] for o in objects)


def test_a_project_name_starting_with_a_digit_still_gives_valid_service_names() -> None:
    objects = render_project(project("1password"), RenderSettings(), None)
    assert one(objects, "Service")["metadata"]["name"] == "app"
    assert all(VALIDATORS[0].problems(o) == [] for o in objects)


def test_render_snapshot_reports_each_broken_project_and_renders_the_rest(
    tmp_path: Path,
) -> None:
    from reconciler.state import Author, Edit

    repo = golden_repo(tmp_path / "state.git")

    def break_one(edit: Edit) -> str:
        edit.write("projects/docs-site/deployment.toml", b'id = "nope"\n')
        return "break docs-site"

    repo.commit(break_one, Author("niklas"))
    out = render_snapshot(repo.snapshot(), FULL_SETTINGS, golden_box())
    assert isinstance(out["docs-site"], RenderError)
    assert any("deployment.toml" in p.file for p in out["docs-site"].problems)
    assert isinstance(out["my-first-app"], list)
    assert isinstance(out["vault"], list)


# -- secrets ---------------------------------------------------------------------------------


def test_secrets_are_decrypted_only_with_the_key_and_masked_without(
    golden_states: dict[str, ProjectState],
) -> None:
    keyed = render_project(golden_states["vault"], FULL_SETTINGS, golden_box())
    masked = render_project(golden_states["vault"], FULL_SETTINGS, None)
    env_secret = next(o for o in by_kind(keyed, "Secret") if o["metadata"]["name"] == "app-env")
    decoded = {k: base64.b64decode(v).decode() for k, v in env_secret["data"].items()}
    assert decoded["DATABASE_URL"] == "postgres://vault:hunter2@db/vault"
    assert decoded["API_TOKEN"] == "tok-\n---\nkind: ClusterRole"
    for secret in by_kind(masked, "Secret"):
        assert set(secret["data"].values()) == {MASK}
    # The hash is of the sealed form: the same with or without the key, never of a plaintext.
    assert [o["metadata"]["annotations"] for o in keyed] == [
        o["metadata"]["annotations"] for o in masked
    ]
    assert "hunter2" not in _dump(masked)


def test_the_pull_secret_holds_docker_credentials_for_the_registry(
    golden_states: dict[str, ProjectState],
) -> None:
    objects = render_project(golden_states["vault"], FULL_SETTINGS, golden_box())
    pull = next(o for o in by_kind(objects, "Secret") if o["metadata"]["name"] == "app-registry")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    config = yaml.safe_load(base64.b64decode(pull["data"][".dockerconfigjson"]))
    entry = config["auths"]["registry.rise.dev"]
    assert (entry["username"], entry["password"]) == ("puller", "pull-password-123")
    assert base64.b64decode(entry["auth"]).decode() == "puller:pull-password-123"


def test_a_secret_encrypted_for_another_project_is_a_precise_error() -> None:
    box = SecretBox(SecretBox.generate_key())
    token = box.encrypt("other", "DB", "x")
    state = project(env_toml=f'[secrets]\nDB = "{token}"\n')
    with pytest.raises(RenderError) as caught:
        render_project(state, RenderSettings(), box)
    (problem,) = caught.value.problems
    assert problem.file == "projects/web/env.toml"
    assert "'DB'" in problem.message and "cannot be decrypted" in problem.message


def test_changing_a_secret_restarts_pods_through_the_env_hash() -> None:
    box = SecretBox(SecretBox.generate_key())

    def pod_annotations(value: str) -> dict[str, str]:
        token = box.encrypt("web", "DB", value)
        state = project(env_toml=f'[secrets]\nDB = "{token}"\n')
        objects = render_project(state, RenderSettings(), box)
        return one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]

    assert pod_annotations("a")["rise.dev/env-hash"] != pod_annotations("b")["rise.dev/env-hash"]


# -- bad input: precise errors ---------------------------------------------------------------


def _problems(state: ProjectState, settings: RenderSettings | None = None) -> list[str]:
    with pytest.raises(RenderError) as caught:
        render_project(state, settings or RenderSettings(), None)
    return [str(p) for p in caught.value.problems]


def test_reserved_variables_are_refused_naming_the_file() -> None:
    (problem,) = _problems(project(env_toml='[vars]\nPORT = "80"\n'))
    assert problem.startswith("projects/web/env.toml: PORT is set by rise")
    (problem,) = _problems(project(rise_toml='[env]\nRISE_APP_URL = "x"\n'))
    assert problem.startswith("projects/web/.rise.toml: RISE_APP_URL is set by rise")


def test_caps_of_project_settings_are_enforced() -> None:
    capped = 'owner = "user:niklas"\n[settings]\nmax_replicas = 2\nmax_cpu = "500m"\n'
    problems = _problems(
        project(project_toml=capped, rise_toml='[deploy]\nreplicas = 3\ncpu = "1"\n')
    )
    assert any("replicas = 3 is above this project's max_replicas = 2" in p for p in problems)
    assert any(
        "cpu = '1' in [deploy] is above this project's max_cpu = '500m'" in p for p in problems
    )
    bad_cap = 'owner = "user:niklas"\n[settings]\nmax_memory = "lots"\n'
    with pytest.raises(SchemaError) as caught:  # refused by the file's schema already
        project(project_toml=bad_cap)
    assert "'max_memory'" in str(caught.value) and "not a Kubernetes quantity" in str(caught.value)
    low = 'owner = "user:niklas"\n[settings]\nmax_cpu = "50m"\n'
    (problem,) = _problems(project(project_toml=low), RenderSettings(default_cpu="100m"))
    assert "the server's default cpu = '100m' is above this project's max_cpu" in problem


def test_an_unknown_environment_suggests_the_closest_one() -> None:
    state = project(
        rise_toml='[environments.staging]\nenv = { A = "1" }\n',
        deployment_toml=(
            'id = "20261122-153012-ab12"\n'
            f'image = "{"registry.rise.dev/web@sha256:" + "ab" * 32}"\n'
            'environment = "stagin"\ncreated_by = "u"\ncreated_at = 2026-11-22T15:30:12Z\n'
        ),
    )
    (problem,) = _problems(state)
    assert "projects/web/deployment.toml" in problem and "did you mean 'staging'" in problem


def test_a_private_project_without_forward_auth_is_never_exposed_unprotected() -> None:
    private = project(project_toml='owner = "user:niklas"\nvisibility = "private"\n')
    (problem,) = _problems(private)
    assert problem.startswith("projects/web/project.toml: this project is private")


def test_an_invalid_project_state_renders_nothing() -> None:
    state = project()
    state.problems.append(__import__("schemas").Problem("projects/web/x.toml", "unknown file"))
    assert _problems(state) == ["projects/web/x.toml: unknown file"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"namespace_format": "apps"}, "must contain '{project}'"),
        ({"namespace_format": "Rise_{project}"}, "must give a DNS label"),
        ({"app_url_template": "https://rise.dev/app"}, "must contain '{project}'"),
        ({"app_url_template": "ftp://{project}.rise.dev"}, "http(s) URL"),
        ({"app_url_template": "https://127.0.0.1/{project}"}, "DNS host name"),
        ({"kubernetes_version": "1.99"}, "no Kubernetes schemas for version '1.99'"),
        ({"templates_dir": Path("/nonexistent/templates")}, "is not a directory"),
    ],
)
def test_bad_settings_are_precise_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        RenderSettings(**settings)
    assert message in str(caught.value)
    assert caught.value.problems[0].file == "server config"


def test_settings_from_the_server_config() -> None:
    cfg = parse_model(
        {
            "public_url": "https://rise.example/",
            "app_url_template": "https://{project}.apps.example.com",
            "templates_dir": str(GOLDEN),
            "registry": {"url": "https://registry.example.com"},
            "kubernetes": {
                "namespace_format": "apps-{project}",
                "ingress_class": "traefik",
                "tls_secret": "wildcard-tls",
                "version": "1.30",
                "image_pull_username": "puller",
                "image_pull_password_env": "PULL_PASSWORD",
            },
        },
        ServerConfig,
    )
    settings = RenderSettings.from_config(cfg, environ={"PULL_PASSWORD": "s3cret"})
    assert settings.namespace("web") == "apps-web"
    assert settings.app_url("web") == "https://web.apps.example.com"
    assert settings.auth_url("web") == "https://rise.example/auth/ingress?project=web"
    assert settings.pull_secret is not None
    assert settings.pull_secret.registry == "registry.example.com"
    assert "s3cret" not in repr(settings)
    assert settings.templates_dir == GOLDEN
    with pytest.raises(RenderError, match="PULL_PASSWORD"):
        RenderSettings.from_config(cfg, environ={})


# -- operator templates ------------------------------------------------------------------------


def _override(tmp_path: Path, files: dict[str, str]) -> RenderSettings:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return RenderSettings(templates_dir=tmp_path)


def test_an_operator_can_replace_and_add_templates_in_block_yaml(tmp_path: Path) -> None:
    settings = _override(
        tmp_path,
        {
            "networkpolicy.yaml.j2": "",  # switched off
            "configmap.yaml.j2": (
                "{% if deployment %}\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                "  name: {{ project.name ~ '-info' }}\n  namespace: {{ project.namespace }}\n"
                "data:\n  image: {{ deployment.image }}\n  owner: {{ project.owner }}\n"
                "{% endif %}\n"
            ),
        },
    )
    objects = render_project(project(), settings, None)
    assert [o["kind"] for o in objects] == [
        "Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service", "Ingress"
    ]  # fmt: skip
    config_map = one(objects, "ConfigMap")
    assert config_map["data"]["owner"] == "user:niklas"
    assert config_map["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "rise"


def test_an_override_that_renders_an_invalid_object_names_template_and_field(
    tmp_path: Path,
) -> None:
    settings = _override(
        tmp_path,
        {
            "service.yaml.j2": (
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n"
                "  namespace: {{ project.namespace }}\n"
                "spec:\n  selektor: {}\n  ports: [{port: web}]\n"
            )
        },
    )
    problems = _problems(project(), settings)
    assert all(
        p.startswith(f"{tmp_path / 'service.yaml.j2'}: Service rise-web/app") for p in problems
    )
    assert any("spec: unknown field 'selektor' — did you mean 'selector'?" in p for p in problems)
    assert any("spec.ports[0].port: 'web' is not of type 'integer'" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
            "metadata: {name: escape}\nrules: []\n",
            "ClusterRole is cluster-wide; project 'web' may not create one",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kube-system}\n",
            "ConfigMap 'x' is in namespace 'kube-system'",
        ),
        (
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
            "the only Namespace a project may have is 'rise-web'",
        ),
        (
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n"
            "  namespace: {{ project.namespace }}\n",
            "ServiceAccount 'app' is rendered twice (also by",
        ),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "string apiVersion, kind and metadata.name"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
            "  namespace: {{ project.namespace }}\ndata:\n  day: 2026-01-01\n",
            "ConfigMap rise-web/x: datetime.date(2026, 1, 1) is a date, not JSON data",
        ),
        ('name: "{{ project.name }}"\n', "rendered text is not valid YAML"),
        ("x: {{ project.nmae }}\n", "has no attribute 'nmae'"),
        ("x: {{ project.name ~ }}\n", "template error"),
    ],
)
def test_template_mistakes_are_precise_errors(tmp_path: Path, text: str, message: str) -> None:
    problems = _problems(project(), _override(tmp_path, {"extra.yaml.j2": text}))
    assert any(message in p for p in problems), problems
    assert all(str(tmp_path / "extra.yaml.j2") in p for p in problems), problems


def test_a_template_error_points_at_the_line(tmp_path: Path) -> None:
    settings = _override(tmp_path, {"extra.yaml.j2": "a: 1\n\nb: {{ nothing.here }}\n"})
    (problem,) = _problems(project(), settings)
    assert problem.startswith(f"{tmp_path / 'extra.yaml.j2'}:3: template error")
