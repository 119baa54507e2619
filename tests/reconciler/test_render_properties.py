"""Properties: no env value or project setting can change a manifest's structure.

Values are generated freely (including YAML and Jinja look-alikes) and go in through the same
schema validation the state repository applies. Each example either renders objects that all
stay in the project's namespace, are exactly the expected set, carry the values verbatim and
pass strict validation, or fails with precise problems.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.render import RenderError, RenderSettings, render_project
from reconciler.secrets import SecretBox
from reconciler.state import ProjectState
from reconciler.yaml_text import dump_yaml
from schemas import (
    AppConfig,
    DeploymentFile,
    EnvFile,
    ProjectFile,
    SchemaError,
    parse_model,
)
from tests.reconciler.golden import IMAGE, VALIDATORS, env_of

BOX = SecretBox(bytes(32))
SETTINGS = RenderSettings(forward_auth_url="https://rise.example/auth/ingress")
NASTY = [
    "x\n---\nkind: ClusterRole",
    "{{ 7*7 }}",
    "{% raw %}",
    "&a [*a, *a]",
    "*a",
    "<<: {a: 1}",
    '"\n  injected: true',
    "'; kind: Secret",
    "\u2028\u2029\x85\ufeff",
    "\x00\x1b[31m",
    "null",
    "true",
    "0x1F",
    "1e3",
    "~",
    "- a\n- b",
    "é☃🚀",
]

valid_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True)
env_values = st.one_of(st.sampled_from(NASTY), st.text(), st.text(min_size=1000, max_size=3000))
names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True).filter(
    lambda name: "--" not in name
)
quantities = st.sampled_from(["250m", "1", "0.5", "512Mi", "2Gi", "1e3", "100M"])
# One in five examples breaks one value, which must then be a precise schema or render error.
BREAKAGES: dict[str, st.SearchStrategy[Any]] = {
    "env key": st.text(max_size=12),
    "replicas": st.sampled_from([-1, 101]),
    "port": st.sampled_from([0, 65536, "8080"]),
    "cpu": st.text(max_size=8),
    "health path": st.text(max_size=20),
    "max_replicas": st.just(0),
}


@st.composite
def project_files(draw: st.DrawFn) -> dict[str, Any]:
    broken = draw(st.sampled_from([None] * 4 + list(BREAKAGES)))

    def value(field: str, good: st.SearchStrategy[Any]) -> Any:
        return draw(BREAKAGES[field] if broken == field else good)

    replicas = draw(st.integers(0, 100))
    deploy: dict[str, Any] = {
        "replicas": value("replicas", st.just(replicas)),
        "port": value("port", st.integers(1, 65535)),
    }
    if draw(st.booleans()):
        deploy["cpu"] = value("cpu", quantities)
    if draw(st.booleans()):
        deploy["memory"] = draw(quantities)
    if draw(st.booleans()):
        deploy["health"] = {
            "path": value("health path", st.from_regex(r"/[!-~]{0,30}", fullmatch=True)),
            "initial_delay": draw(st.integers(0, 3600)),
        }
    for key in ("command", "args"):
        if draw(st.booleans()):
            deploy[key] = draw(st.lists(env_values, max_size=3))
    keys = st.one_of(valid_keys, BREAKAGES["env key"]) if broken == "env key" else valid_keys
    return {
        "project": {
            "owner": "team:devops",
            "visibility": draw(st.sampled_from(["public", "private"])),
            "settings": {"max_replicas": value("max_replicas", st.integers(replicas, 1000))},
        },
        "app": {"deploy": deploy, "env": draw(st.dictionaries(keys, env_values, max_size=4))},
        "deployment": {
            "id": "20261122-153012-ab12",
            "image": IMAGE,
            "state": draw(st.sampled_from(["running", "stopped"])),
            "created_by": "user:niklas",
            "created_at": datetime(2026, 11, 22, 15, 30, 12, tzinfo=UTC),
        },
        "vars": draw(st.dictionaries(keys, env_values, max_size=4)),
        "secrets": draw(st.dictionaries(valid_keys, env_values, max_size=3)),
    }


def _state(name: str, files: dict[str, Any]) -> ProjectState:
    """Raise SchemaError exactly as the state repository would for these files."""
    secrets = {}
    for key, value in files["secrets"].items():
        secrets[key] = BOX.encrypt(name, key, value)
    return ProjectState(
        name=name,
        tree_id="",
        project=parse_model(files["project"], ProjectFile),
        app=parse_model(files["app"], AppConfig),
        deployment=parse_model(files["deployment"], DeploymentFile),
        env=parse_model({"vars": files["vars"], "secrets": secrets}, EnvFile),
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=names, files=project_files())
def test_any_input_renders_contained_valid_objects_or_precise_errors(
    name: str, files: dict[str, Any]
) -> None:
    try:
        state = _state(name, files)
    except SchemaError as exc:
        event("schema error")
        assert exc.problems and all(p.message for p in exc.problems)
        return
    try:
        objects = render_project(state, SETTINGS, BOX)
    except RenderError as exc:
        event("render error")
        assert exc.problems and all(p.file.startswith(f"projects/{name}/") for p in exc.problems)
        return
    event("rendered")
    namespace = SETTINGS.namespace(name)
    kinds = [o["kind"] for o in objects]
    expected = ["Namespace", "ServiceAccount"] + (["Secret"] if files["secrets"] else [])
    assert kinds == [*expected, "Deployment", "Service", "Ingress", "NetworkPolicy"]
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == namespace
        else:
            assert obj["metadata"]["namespace"] == namespace
        for validator in VALIDATORS:
            assert validator.problems(obj) == [], (validator.version, obj["kind"])
    # Values arrive verbatim: nothing was evaluated, split or re-typed on the way.
    env = env_of(objects)
    merged = {**files["app"]["env"], **files["vars"]}
    for key, value in merged.items():
        if key not in files["secrets"]:
            assert env[key] == (value or None)
    for key in files["secrets"]:
        assert env[key] == {"secretKeyRef": {"name": "app-env", "key": key}}
    # What `rise render` prints (and the rendered branch holds) parses back to the objects.
    assert list(yaml.safe_load_all(dump_yaml(objects))) == objects


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "\u2028\u2029\x85\ufeff\U0001f680", max_size=200))
def test_a_value_is_always_one_yaml_scalar(value: str) -> None:
    from reconciler.render.engine import yaml_value

    text = f"key: {yaml_value(value)}\nafter: 1\n"
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        assert yaml.load(text, Loader=loader) == {"key": value, "after": 1}
    assert json.loads(yaml_value(value)) == value
