"""Manifest validation: the fast compiled check agrees with kubernetes-validate itself."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.validate import (
    ManifestValidator,
    SchemaVersionError,
    latest_version,
    resolve_version,
    supported_versions,
)
from tests.reconciler.golden import GOLDEN

# Every kind the built-in templates render, plus live objects the API server returned.
OBJECTS: list[dict[str, Any]] = [
    *yaml.safe_load_all((GOLDEN / "vault.yaml").read_text()),
    *yaml.safe_load_all((GOLDEN / "docs-site.yaml").read_text()),
]
VERSIONS = ["1.30", latest_version()]
VALIDATORS = {v: ManifestValidator(v) for v in VERSIONS}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid object with one change: a value replaced, a key removed or a key added."""
    obj = copy.deepcopy(draw(st.sampled_from(OBJECTS)))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from([p for p in _paths(obj) if len(p) > 1]))
        parent = obj
        for part in path[:-1]:
            parent = parent[part]
        operation = draw(st.sampled_from(["replace", "remove", "add"]))
        if operation == "replace":
            parent[path[-1]] = draw(json_values)
        elif operation == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "replicaz", "name", "type"]))] = draw(json_values)
    return obj


def _reference_valid(obj: dict[str, Any], version: str) -> bool:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError:
        return False
    return True


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(obj=mutated(), version=st.sampled_from(VERSIONS))
def test_valid_exactly_when_kubernetes_validate_says_so(obj: dict[str, Any], version: str) -> None:
    problems = ManifestValidator(version).problems(obj)
    valid = _reference_valid(obj, version)
    event("valid" if valid else "invalid")
    assert (problems == []) == valid, problems


@pytest.mark.parametrize("version", VERSIONS)
def test_the_golden_objects_are_valid(version: str) -> None:
    for obj in OBJECTS:
        assert _reference_valid(obj, version)
        assert VALIDATORS[version].problems(obj) == []


def test_problems_name_the_field_and_suggest_the_closest() -> None:
    deployment = copy.deepcopy(next(o for o in OBJECTS if o["kind"] == "Deployment"))
    deployment["spec"]["replicaz"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    assert VALIDATORS["1.30"].problems(deployment) == [
        "spec: unknown field 'replicaz' — did you mean 'replicas'?",
        "spec.template.spec.containers[0].ports[0].containerPort: '80' is not of type 'integer'",
    ]


def test_unknown_kinds_and_removed_api_versions() -> None:
    validator = VALIDATORS["1.30"]
    (problem,) = validator.problems({"apiVersion": "extensions/v1beta1", "kind": "Ingress"})
    assert "Kubernetes 1.30 has no kind 'Ingress' in 'extensions/v1beta1'" in problem
    assert validator.problems({"kind": "Service"}) == [
        "every object needs string 'apiVersion' and 'kind' fields"
    ]


def test_a_content_key_seen_before_answers_from_memory() -> None:
    validator = ManifestValidator("1.30")
    service = next(o for o in OBJECTS if o["kind"] == "Service")
    assert validator.problems(service, key="k1") == []
    broken = {**service, "spec": {"selektor": {}}}
    assert validator.problems(broken, key="k1") == []  # same key: same (remembered) answer
    assert validator.problems(broken, key="k2") != []


def test_versions() -> None:
    assert supported_versions()[0] <= "1.30" <= latest_version() == supported_versions()[-1]
    assert resolve_version("v1.30.4") == "1.30"
    assert resolve_version(None) == latest_version()
    with pytest.raises(SchemaVersionError, match=r"has 1\.2"):
        resolve_version("1.99")
    with pytest.raises(SchemaVersionError, match="is not a Kubernetes version"):
        resolve_version("latest")


def test_the_schema_package_is_loaded_only_when_first_needed(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import reconciler.render, reconciler.diff, reconciler.validate\n"
        "assert 'kubernetes_validate' not in sys.modules, 'imported eagerly'\n"
        "assert 'jsonschema' not in sys.modules, 'imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
