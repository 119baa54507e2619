"""Diffs of desired vs live objects, against real API server responses (kube-reference)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.diff import diff_objects, format_diff, normalise, to_json
from reconciler.render import RenderSettings, render_project
from reconciler.secrets import MASK, SecretBox
from tests.reconciler.golden import FULL_SETTINGS, golden_box, golden_repo, project
from tests.support.kubeapi.defaults import apply_defaults

CAPTURES = Path(__file__).resolve().parents[1] / "kubeapi" / "captures"
# Server-side applies that created an object from a complete manifest.
CREATED = [
    "07-ssa-namespace-create.json",
    "08-ssa-deployment-create.json",
    "16-ssa-service.json",
    "17-ssa-ingress.json",
    "18-ssa-secret-stringdata.json",
    "19-ssa-serviceaccount.json",
    "20-ssa-networkpolicy.json",
]


def _capture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the manifest rise sent, the object the real API server answered with)."""
    data = json.loads((CAPTURES / name).read_text())
    return json.loads(data["request"]["body"]), data["response"]["body"]


def _live(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` as the API server returns them after an apply: defaulted, with metadata."""
    out = []
    for n, obj in enumerate(objects):
        live = copy.deepcopy(obj)
        apply_defaults(live, None, lambda: "10.96.0.10")
        live["metadata"].update(
            uid=f"uid-{n}",
            resourceVersion=str(300 + n),
            generation=1,
            creationTimestamp="2026-11-22T21:44:47Z",
            managedFields=[{"manager": "rise", "operation": "Apply"}],
        )
        out.append(live)
    return out


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    repo = golden_repo(tmp_path_factory.mktemp("diff") / "state.git")
    return render_project(repo.snapshot().projects["vault"], FULL_SETTINGS, golden_box())


@pytest.mark.parametrize("capture", CREATED)
def test_a_freshly_applied_object_diffs_empty_against_its_manifest(capture: str) -> None:
    manifest, live = _capture(capture)
    (result,) = diff_objects([manifest], [live])
    assert result.action == "unchanged", result.unified
    assert result.unified == ""


def test_every_rendered_object_diffs_empty_after_the_server_adds_its_defaults(
    vault: list[dict[str, Any]],
) -> None:
    results = diff_objects(vault, _live(vault))
    assert [r.action for r in results] == ["unchanged"] * len(vault)
    assert format_diff(results) == f"No changes ({len(vault)} objects unchanged).\n"


def test_a_changed_image_shows_exactly_that_line(vault: list[dict[str, Any]]) -> None:
    live = _live(vault)
    desired = copy.deepcopy(vault)
    deployment = next(o for o in desired if o["kind"] == "Deployment")
    old = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    new = old.replace("0123456789abcdef" * 4, "f" * 64)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = new
    results = diff_objects(desired, live)
    changed = [r for r in results if r.action != "unchanged"]
    assert [r.header for r in changed] == ["~ Deployment rise-vault/vault-20261122-153012-ab12"]
    body = [line for line in changed[0].unified.splitlines()[2:] if line[:1] in "+-"]
    assert body == [f"-        image: {old}", f"+        image: {new}"]


def test_creates_updates_and_deletes_get_headers_and_a_summary() -> None:
    ns, live_ns = _capture("07-ssa-namespace-create.json")
    dep, live_dep = _capture("08-ssa-deployment-create.json")
    svc, _ = _capture("16-ssa-service.json")
    dep["spec"]["replicas"] = 3
    text = format_diff(
        diff_objects([ns, dep, svc], [live_ns, live_dep, _capture("19-ssa-serviceaccount.json")[1]])
    )
    assert text.splitlines()[0] == "~ Deployment rise-demo/demo-20261122-1530"
    assert "-  replicas: 1\n+  replicas: 3\n" in text
    assert "+ Service rise-demo/web\n" in text
    assert "- ServiceAccount rise-demo/demo\n" in text
    assert text.endswith("1 to create, 1 to update, 1 to delete, 1 unchanged.\n")
    assert "\x1b[" not in text


def test_colour_only_when_asked() -> None:
    dep, live = _capture("08-ssa-deployment-create.json")
    dep["spec"]["replicas"] = 2
    coloured = format_diff(diff_objects([dep], [live]), color=True)
    assert "\x1b[1m\x1b[33m~ Deployment" in coloured
    assert "\x1b[31m-  replicas: 1\x1b[0m" in coloured
    assert "\x1b[32m+  replicas: 2\x1b[0m" in coloured


def test_real_drift_in_a_defaulted_field_still_shows() -> None:
    dep, live = _capture("08-ssa-deployment-create.json")
    live["spec"]["template"]["spec"]["dnsPolicy"] = "None"
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    (result,) = diff_objects([dep], [live])
    assert result.action == "update"
    assert "-      dnsPolicy: None" in result.unified
    assert "-        imagePullPolicy: Always" in result.unified


def test_normalise_leaves_its_input_alone_and_drops_server_fields() -> None:
    _, live = _capture("08-ssa-deployment-create.json")
    before = copy.deepcopy(live)
    out = normalise(live)
    assert live == before
    assert "status" not in out
    assert set(out["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert "strategy" not in out["spec"] and "terminationMessagePath" not in json.dumps(out)


def test_only_a_hash_difference_is_still_an_update_with_a_note() -> None:
    sa, live = _capture("19-ssa-serviceaccount.json")
    sa["metadata"]["annotations"] = {"rise.dev/spec-hash": "new"}
    live["metadata"]["annotations"] = {"rise.dev/spec-hash": "old"}
    (result,) = diff_objects([sa], [live])
    assert result.action == "update"
    assert "only rise.dev/spec-hash differs" in result.unified


# -- secrets never appear in clear ----------------------------------------------------------


def _secret(values: dict[str, str], field: str = "data") -> dict[str, Any]:
    encode = field == "data"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app-env", "namespace": "rise-web"},
        "type": "Opaque",
        field: {
            k: base64.b64encode(v.encode()).decode() if encode else v for k, v in values.items()
        },
    }


def _everything(results: list[Any]) -> str:
    return format_diff(results) + format_diff(results, color=True) + json.dumps(to_json(results))


def test_secret_values_are_masked_with_changes_marked() -> None:
    desired = _secret({"DB": "new-password", "SAME": "kept-value", "ADDED": "added-value"})
    live = _secret({"DB": "old-password", "SAME": "kept-value", "GONE": "gone-value"}, "stringData")
    (result,) = diff_objects([desired], [live])
    assert result.action == "update"
    assert f"-  DB: '{MASK} (before)'" in result.unified
    assert f"+  DB: '{MASK} (after)'" in result.unified
    assert f"+  ADDED: '{MASK}'" in result.unified
    assert f"-  GONE: '{MASK}'" in result.unified
    assert "SAME" not in result.unified.replace(f"  SAME: '{MASK}'", "")
    output = _everything([result])
    for plain in ("new-password", "old-password", "kept-value", "added-value", "gone-value"):
        assert plain not in output
        assert base64.b64encode(plain.encode()).decode() not in output


def test_rendered_secrets_never_reach_diff_output(vault: list[dict[str, Any]]) -> None:
    created = diff_objects(vault, [])
    deleted = diff_objects([], _live(vault))
    output = _everything(created) + _everything(deleted)
    for plain in ("hunter2", "pull-password-123", "tok-"):
        assert plain not in output
    for obj in vault:
        if obj["kind"] == "Secret":
            for value in obj["data"].values():
                assert value not in output


secret_maps = st.dictionaries(
    st.sampled_from(["DB", "TOKEN", "KEY", "PASSWORD"]),
    st.text().map(lambda text: "zq-secret-" + text),  # the prefix occurs nowhere else
    min_size=1,
)


@settings(max_examples=60, deadline=None)
@given(before=secret_maps, after=secret_maps)
def test_no_secret_value_survives_into_any_output(
    before: dict[str, str], after: dict[str, str]
) -> None:
    box = SecretBox(bytes(32))

    def rendered(values: dict[str, str]) -> list[dict[str, Any]]:
        lines = "".join(f'{k} = "{box.encrypt("web", k, v)}"\n' for k, v in values.items())
        return render_project(project(env_toml="[secrets]\n" + lines), RenderSettings(), box)

    output = _everything(diff_objects(rendered(after), _live(rendered(before))))
    assert "zq-secret-" not in output
    for value in {*before.values(), *after.values()}:
        assert base64.b64encode(value.encode()).decode() not in output
