"""Server-side apply, compared with what kube-apiserver v1.36.2 answered (captures 07-23, 29-31).

These run against the loopback double by default and against a real cluster when
RISE_TEST_KUBECONFIG is set, so the double's faithfulness is itself under test.
"""

# The generated client models type every field Optional; these tests read known fields.
# mypy: disable-error-code="union-attr, arg-type, index"

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.kubeapi._kube import (
    Kube,
    captured_body,
    captured_response,
    object_path,
    rise_entry,
)
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube

DEPLOYMENT = "demo-20261122-1530"


def _fields(obj: dict, manager: str = "rise") -> dict:
    entry = rise_entry(obj, manager)
    assert entry is not None, (
        f"no Apply entry for {manager}: {obj['metadata'].get('managedFields')}"
    )
    return dict(entry["fieldsV1"])


def _let_time_pass(kube_target: KubeTarget) -> None:
    """Make a later write's managedFields time differ from an earlier one's."""
    if kube_target.is_loopback:
        kube_target.loopback.advance_clock(3600)
    else:
        time.sleep(1.1)


@pytest.fixture
def deployment(kube: Kube, kube_namespace: str) -> dict:
    reply = kube.apply(captured_body(8, kube_namespace))
    assert reply.status == 201, reply.body
    return dict(reply.body)


@pytest.fixture
def fresh_namespace(kube: Kube) -> Iterator[str]:
    name = f"rise-apply-{uuid.uuid4().hex[:8]}"
    yield name
    kube.delete("Namespace", name)


def test_namespace_create_gets_defaults_and_ownership(kube: Kube, fresh_namespace: str) -> None:
    body = captured_body(7, fresh_namespace)
    body["metadata"]["name"] = fresh_namespace
    reply = kube.apply(body)
    want = captured_response(7)
    assert reply.status == 201
    assert reply.meta["labels"] == {
        **want["metadata"]["labels"],
        "kubernetes.io/metadata.name": fresh_namespace,
    }
    assert reply.body["spec"] == want["spec"]
    assert reply.body["status"] == want["status"]
    assert _fields(reply.body) == _fields(want)
    assert "generation" not in reply.meta


def test_deployment_create_gets_server_defaults(deployment: dict) -> None:
    want = captured_response(8)
    assert deployment["kind"] == "Deployment" and deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"] == want["spec"]
    assert deployment["status"] == {}
    assert deployment["metadata"]["generation"] == 1
    assert deployment["metadata"]["labels"] == want["metadata"]["labels"]
    assert deployment["metadata"]["annotations"] == want["metadata"]["annotations"]
    assert int(deployment["metadata"]["resourceVersion"]) > 0
    assert _fields(deployment) == _fields(want)
    entry = rise_entry(deployment)
    assert entry is not None
    assert set(entry) == {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"}
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"


def test_noop_apply_does_not_write(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str, deployment: dict
) -> None:
    _let_time_pass(kube_target)
    reply = kube.apply(captured_body(9, kube_namespace))
    assert reply.status == 200
    assert reply.meta["generation"] == 1
    # rise's entry, time included, is untouched: judged as capture 09's note says.
    assert rise_entry(reply.body) == rise_entry(deployment)
    if kube_target.is_loopback:
        # No controller ran in between (no GET), so the version is the creation's too.
        assert reply.meta["resourceVersion"] == deployment["metadata"]["resourceVersion"]
        assert [r.status for r in kube_target.writes(effective=True)][-1:] == [201]


def test_noop_apply_keeps_resource_version_on_configmap(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": kube_namespace, "labels": {"a": "b"}},
        "data": {"LOG_LEVEL": "info"},
    }
    versions = []
    for _ in range(3):
        reply = kube.apply(body)
        versions.append(reply.meta["resourceVersion"])
        _let_time_pass(kube_target)
    assert versions[0] == versions[1] == versions[2]
    assert rise_entry(kube.get("ConfigMap", "settings", kube_namespace).body) == rise_entry(
        reply.body
    )


def test_spec_change_bumps_generation_metadata_change_does_not(
    kube: Kube, kube_namespace: str, deployment: dict
) -> None:
    reply = kube.apply(captured_body(10, kube_namespace))
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 2
    assert reply.meta["generation"] == 2
    assert int(reply.meta["resourceVersion"]) > int(deployment["metadata"]["resourceVersion"])
    assert _fields(reply.body) == _fields(captured_response(10))

    relabelled = captured_body(10, kube_namespace)
    relabelled["metadata"]["labels"]["tier"] = "web"
    reply = kube.apply(relabelled)
    assert reply.meta["labels"]["tier"] == "web"
    assert reply.meta["generation"] == 2


def test_field_no_longer_applied_is_removed(
    kube: Kube, kube_namespace: str, deployment: dict
) -> None:
    kube.apply(captured_body(10, kube_namespace))
    reply = kube.apply(captured_body(11, kube_namespace))
    want = captured_response(11)
    assert reply.body["spec"] == want["spec"]  # env is gone, defaults stay
    assert reply.meta["generation"] == 3
    assert _fields(reply.body) == _fields(want)


def test_other_manager_changing_owned_field_conflicts(
    kube: Kube, kube_namespace: str, deployment: dict
) -> None:
    reply = kube.apply(captured_body(12, kube_namespace), manager="someone-else")
    assert reply.status == 409
    assert reply.body == captured_response(12)
    assert kube.get("Deployment", DEPLOYMENT, kube_namespace).body["spec"]["replicas"] == 1


def test_force_takes_the_field_over(kube: Kube, kube_namespace: str, deployment: dict) -> None:
    kube.apply(captured_body(11, kube_namespace))
    reply = kube.apply(captured_body(13, kube_namespace), manager="someone-else", force=True)
    want = captured_response(13)
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 5
    assert _fields(reply.body) == _fields(want)
    assert _fields(reply.body, "someone-else") == _fields(want, "someone-else")
    # rise re-applying without replicas leaves someone-else's value alone.
    again = kube.apply(
        captured_body(11, kube_namespace) | {"spec": _without_replicas(kube_namespace)}
    )
    assert again.body["spec"]["replicas"] == 5


def _without_replicas(namespace: str) -> dict:
    spec = captured_body(11, namespace)["spec"]
    del spec["replicas"]
    return dict(spec)


def test_same_value_is_shared_and_survives_one_owner_leaving(
    kube: Kube, kube_namespace: str, deployment: dict
) -> None:
    body = captured_body(12, kube_namespace)
    body["spec"]["replicas"] = 1  # the value rise applied: no conflict, shared ownership
    assert kube.apply(body, manager="someone-else").status == 200
    reply = kube.apply(
        captured_body(8, kube_namespace) | {"spec": _without_replicas(kube_namespace)}
    )
    assert reply.body["spec"]["replicas"] == 1  # still owned by someone-else
    assert "f:replicas" not in _fields(reply.body)["f:spec"]
    assert _fields(reply.body, "someone-else") == {"f:spec": {"f:replicas": {}}}


def _appliers(obj: dict) -> list[dict]:
    return [m for m in obj["metadata"]["managedFields"] if m["operation"] == "Apply"]


def test_dry_run_answers_as_if_written_and_persists_nothing(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str, deployment: dict
) -> None:
    kube.apply(captured_body(11, kube_namespace))
    forced = kube.apply(captured_body(13, kube_namespace), manager="someone-else", force=True)
    before = kube.get("Deployment", DEPLOYMENT, kube_namespace).body
    if kube_target.is_loopback:
        kube_target.clear_log()

    reply = kube.apply(captured_body(14, kube_namespace), force=True, dry_run=True)
    want = captured_response(14)
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 2
    assert reply.meta["generation"] == forced.meta["generation"] + 1
    assert _fields(reply.body) == _fields(want)
    assert rise_entry(reply.body, "someone-else") is None

    after = kube.get("Deployment", DEPLOYMENT, kube_namespace).body
    assert after["spec"]["replicas"] == 5
    assert after["metadata"]["generation"] == forced.meta["generation"]
    # The appliers' entries are as they were (a controller may write the status meanwhile,
    # on a real cluster; then the resourceVersion moves, but not because of the dry run).
    assert _appliers(after) == _appliers(before)
    if after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]:
        assert reply.meta["resourceVersion"] == before["metadata"]["resourceVersion"]
    if kube_target.is_loopback:
        assert kube_target.writes() == []
        assert len(kube_target.requests(method="PATCH")) == 1


def test_dry_run_create_persists_nothing(kube: Kube, kube_namespace: str) -> None:
    body = captured_body(21, kube_namespace)
    reply = kube.apply(body, dry_run=True)
    assert reply.status == 201
    assert reply.body["spec"]["revisionHistoryLimit"] == 10
    assert not reply.meta.get("resourceVersion")
    assert kube.get("Deployment", "extra-0", kube_namespace).status == 404


def test_service_defaults(kube: Kube, kube_namespace: str) -> None:
    reply = kube.apply(captured_body(16, kube_namespace))
    want = captured_response(16)
    assert reply.status == 201
    spec = dict(reply.body["spec"])
    ip = spec.pop("clusterIP")
    assert spec.pop("clusterIPs") == [ip]
    assert ip.count(".") == 3
    expected = {k: v for k, v in want["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    assert spec == expected
    assert reply.body["status"] == want["status"]
    assert "generation" not in reply.meta
    assert _fields(reply.body) == _fields(want)
    again = kube.apply(captured_body(16, kube_namespace))
    assert again.meta["resourceVersion"] == reply.meta["resourceVersion"]
    assert again.body["spec"]["clusterIP"] == ip


@pytest.mark.parametrize("number", [17, 19, 20])
def test_ingress_serviceaccount_networkpolicy(kube: Kube, kube_namespace: str, number: int) -> None:
    reply = kube.apply(captured_body(number, kube_namespace))
    want = captured_response(number)
    assert reply.status == 201
    for key in ("spec", "status"):
        assert reply.body.get(key) == want.get(key), key
    assert reply.meta.get("generation") == want["metadata"].get("generation")
    assert _fields(reply.body) == _fields(want)
    again = kube.apply(captured_body(number, kube_namespace))
    assert again.meta["resourceVersion"] == reply.meta["resourceVersion"]


def test_secret_string_data_becomes_data(kube: Kube, kube_namespace: str) -> None:
    reply = kube.apply(captured_body(18, kube_namespace))
    want = captured_response(18)
    assert reply.status == 201
    assert reply.body["data"] == want["data"]
    assert reply.body["type"] == "Opaque"
    assert "stringData" not in reply.body
    assert _fields(reply.body) == _fields(want)
    stored = kube.get("Secret", "demo-env", kube_namespace).body
    assert "stringData" not in stored and stored["data"] == want["data"]
    again = kube.apply(captured_body(18, kube_namespace))
    assert again.meta["resourceVersion"] == reply.meta["resourceVersion"]


@pytest.mark.parametrize(
    ("capture", "strict"),
    [
        (29, False),  # a type error
        (31, True),  # a field the schema lacks, with fieldValidation=Strict
        # Server-side apply cannot type a patch with a field the schema lacks, whatever
        # fieldValidation says: the same answer as capture 31, which asked for Strict.
        (31, False),
    ],
)
def test_an_apply_the_server_cannot_type_is_a_500(
    kube: Kube, kube_namespace: str, deployment: dict, capture: int, strict: bool
) -> None:
    reply = kube.apply(captured_body(capture, kube_namespace), strict=strict)
    assert reply.status == 500
    want = captured_response(capture)
    want["message"] = want["message"].replace("rise-demo/", f"{kube_namespace}/")
    assert reply.body == want


def test_unknown_field_in_a_merge_patch_is_dropped_with_a_warning(
    kube: Kube, kube_namespace: str, deployment: dict
) -> None:
    name = deployment["metadata"]["name"]
    path = f"/apis/apps/v1/namespaces/{kube_namespace}/deployments/{name}"
    reply = kube.request(
        "PATCH", path, {"spec": {"replicaz": 2}}, content_type="application/merge-patch+json"
    )
    assert reply.status == 200
    assert "replicaz" not in reply.body["spec"]
    assert reply.headers.get("Warning") == '299 - "unknown field \\"spec.replicaz\\""'


def test_invalid_name_is_a_422(kube: Kube, kube_namespace: str) -> None:
    body = captured_body(30, kube_namespace)
    reply = kube.apply(body, name="Bad_Name")
    assert reply.status == 422
    assert reply.body == captured_response(30)


def test_invalid_label_value_is_a_422(kube: Kube, kube_namespace: str) -> None:
    body = captured_body(21, kube_namespace)
    body["metadata"]["labels"]["rise.dev/project"] = "not a label value"
    reply = kube.apply(body)
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["details"]["causes"][0]["field"] == "metadata.labels"


def test_apply_into_missing_namespace_is_namespace_not_found(kube: Kube) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    reply = kube.apply(captured_body(21, missing))
    assert reply.status == 404
    assert reply.body["reason"] == "NotFound"
    assert reply.body["details"] == {"name": missing, "kind": "namespaces"}
    assert reply.body["message"] == f'namespaces "{missing}" not found'


def test_apply_through_typed_client(kube: Kube, kube_namespace: str) -> None:
    """The generated AppsV1Api sends apply patches when told the content type."""
    from kubernetes import client

    apps = client.AppsV1Api(kube.api_client)
    body = captured_body(21, kube_namespace)
    created, status, _headers = apps.patch_namespaced_deployment_with_http_info(
        "extra-0",
        kube_namespace,
        body,
        field_manager="rise",
        _content_type="application/apply-patch+yaml",
    )
    assert status == 201
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    changed = copy.deepcopy(body)
    changed["spec"]["replicas"] = 7
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment(
            "extra-0",
            kube_namespace,
            changed,
            field_manager="other",
            _content_type="application/apply-patch+yaml",
        )
    assert err.value.status == 409
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == ".spec.replicas"
    forced = apps.patch_namespaced_deployment(
        "extra-0",
        kube_namespace,
        changed,
        field_manager="other",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert forced.spec.replicas == 7
    assert kube.request("GET", object_path("Deployment", "extra-0", kube_namespace)).status == 200
