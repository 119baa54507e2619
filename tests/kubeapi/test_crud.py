"""Reads, lists, plain writes and deletes (captures 24-28, 32, 34-36), through the official client.

Portable: with RISE_TEST_KUBECONFIG set these run against a real cluster.
"""

# The generated client models type every field Optional; these tests read known fields.
# mypy: disable-error-code="union-attr, arg-type, index"

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from kubernetes import client

from tests.kubeapi._kube import (
    Kube,
    captured_body,
    captured_response,
    collection_path,
    object_path,
)
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube


def _configmap(namespace: str, name: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": {"k": name},
    }


def test_get_missing_is_not_found_status(kube: Kube, kube_namespace: str) -> None:
    reply = kube.get("Deployment", "nope", kube_namespace)
    assert reply.status == 404
    assert reply.body == captured_response(26)
    core = client.CoreV1Api(kube.api_client)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_service("nope", kube_namespace)
    assert err.value.status == 404
    body = json.loads(err.value.body)
    assert body["details"] == {"name": "nope", "kind": "services"}
    assert body["message"] == 'services "nope" not found'


def test_list_pagination_with_selector(kube: Kube, kube_namespace: str) -> None:
    for number in (8, 21, 22, 23):
        assert kube.apply(captured_body(number, kube_namespace)).status == 201
    selector = "app.kubernetes.io/managed-by=rise"
    first = kube.list("Deployment", kube_namespace, labelSelector=selector, limit=2)
    want = captured_response(24)
    assert first.body["kind"] == "DeploymentList" and first.body["apiVersion"] == "apps/v1"
    names = [i["metadata"]["name"] for i in first.body["items"]]
    assert names == [i["metadata"]["name"] for i in want["items"]]
    assert all("kind" not in i and "apiVersion" not in i for i in first.body["items"])
    assert set(first.meta) == set(want["metadata"])  # resourceVersion, continue; no count
    assert isinstance(first.meta["continue"], str) and first.meta["continue"]  # opaque

    second = kube.list(
        "Deployment",
        kube_namespace,
        labelSelector=selector,
        limit=2,
        **{"continue": first.meta["continue"]},
    )
    assert [i["metadata"]["name"] for i in second.body["items"]] == ["extra-1", "extra-2"]
    assert "continue" not in second.meta
    assert set(second.meta) == set(captured_response(25)["metadata"])


def test_list_pagination_without_selector_counts_remaining(kube: Kube, kube_namespace: str) -> None:
    # Every namespace also holds what the cluster injects (kube-root-ca.crt, and more on
    # some distributions): whatever is there counts too.
    def names() -> list[str]:
        return [i["metadata"]["name"] for i in kube.list("ConfigMap", kube_namespace).body["items"]]

    injected = eventually(lambda: "kube-root-ca.crt" in names() and names())
    for name in ("a", "b", "c", "d", "e"):
        kube.apply(_configmap(kube_namespace, f"cm-{name}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        reply = kube.list("ConfigMap", kube_namespace, limit=2, **{"continue": token})
        seen += [i["metadata"]["name"] for i in reply.body["items"]]
        pages += 1
        token = reply.meta.get("continue")
        if not token:
            assert "remainingItemCount" not in reply.meta
            break
        total = int(reply.meta["remainingItemCount"]) + len(seen)
    want = sorted([f"cm-{n}" for n in "abcde"] + injected)
    assert sorted(seen) == want
    assert total == len(want) and pages == (len(want) + 1) // 2


def test_typed_client_list_and_continue(kube: Kube, kube_namespace: str) -> None:
    for name in ("a", "b", "c"):
        kube.apply(_configmap(kube_namespace, f"cm-{name}", {"set": "x"}))
    core = client.CoreV1Api(kube.api_client)
    page = core.list_namespaced_config_map(kube_namespace, label_selector="set=x", limit=2)
    assert [c.metadata.name for c in page.items] == ["cm-a", "cm-b"]
    rest = core.list_namespaced_config_map(
        kube_namespace, label_selector="set=x", limit=2, _continue=page.metadata._continue
    )
    assert [c.metadata.name for c in rest.items] == ["cm-c"]
    assert int(rest.metadata.resource_version) >= int(page.metadata.resource_version)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web", ["a", "b"]),
        ("tier!=web", ["c", "d"]),
        ("tier in (web,db)", ["a", "b", "c"]),
        ("tier notin (web)", ["c", "d"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d"]),
        ("tier=web,track=canary", ["b"]),
        ("tier,!track", ["a", "c"]),
    ],
)
def test_label_selectors(
    kube: Kube, kube_namespace: str, selector: str, expected: list[str]
) -> None:
    labels = {
        "a": {"tier": "web"},
        "b": {"tier": "web", "track": "canary"},
        "c": {"tier": "db"},
        "d": {"other": "x"},
    }
    for name, lab in labels.items():
        kube.apply(_configmap(kube_namespace, name, {**lab, "suite": "sel"}))
    reply = kube.list("ConfigMap", kube_namespace, labelSelector=f"suite=sel,{selector}")
    assert [i["metadata"]["name"] for i in reply.body["items"]] == expected


def test_all_namespaces_list(kube: Kube, kube_namespace: str) -> None:
    kube.apply(captured_body(21, kube_namespace))
    reply = kube.list("Deployment", None, labelSelector="rise.dev/project=demo")
    found = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in reply.body["items"]}
    assert (kube_namespace, "extra-0") in found


def test_create_then_already_exists(kube: Kube, kube_namespace: str) -> None:
    body = _configmap(kube_namespace, "once")
    path = collection_path("ConfigMap", kube_namespace)
    created = kube.request("POST", path, body)
    assert created.status == 201
    assert created.meta["managedFields"][0]["operation"] == "Update"
    again = kube.request("POST", path, body)
    assert again.status == 409
    assert again.body["reason"] == "AlreadyExists"
    assert again.body["message"] == 'configmaps "once" already exists'
    assert again.body["details"] == {"name": "once", "kind": "configmaps"}


def test_create_in_missing_namespace(kube: Kube) -> None:
    reply = kube.request(
        "POST", collection_path("ConfigMap", "no-such-ns"), _configmap("no-such-ns", "x")
    )
    assert reply.status == 404
    assert reply.body["details"] == {"name": "no-such-ns", "kind": "namespaces"}


def _put_replicas(
    kube: Kube, path: str, replicas: int, manager: str | None = None
) -> tuple[dict, Any]:
    """GET, change spec.replicas, PUT: (the object read, the PUT's reply). On a real cluster
    the controller may write the status in between (409): read again and retry, as
    ``kubectl edit`` does."""

    def read_modify_write() -> tuple[dict, Any] | None:
        current = kube.request("GET", path).body
        changed = copy.deepcopy(current)
        changed["spec"]["replicas"] = replicas
        reply = kube.request("PUT", path, changed, query={"fieldManager": manager})
        return (current, reply) if reply.status != 409 else None

    out: tuple[dict, Any] = eventually(read_modify_write)
    return out


def test_put_with_stale_resource_version_conflicts(kube: Kube, kube_namespace: str) -> None:
    kube.apply(captured_body(8, kube_namespace))
    path = object_path("Deployment", "demo-20261122-1530", kube_namespace)

    current, ok = _put_replicas(kube, path, 3)
    stale = copy.deepcopy(current)
    assert ok.status == 200
    assert ok.body["spec"]["replicas"] == 3
    assert int(ok.meta["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
    assert ok.meta["generation"] == current["metadata"]["generation"] + 1

    stale["spec"]["replicas"] = 4
    reply = kube.request("PUT", path, stale)
    assert reply.status == 409
    want = captured_response(28)
    assert reply.body == want
    assert kube.request("GET", path).body["spec"]["replicas"] == 3


def test_put_takes_ownership_from_the_applier(kube: Kube, kube_namespace: str) -> None:
    kube.apply(captured_body(8, kube_namespace))
    path = object_path("Deployment", "demo-20261122-1530", kube_namespace)
    assert _put_replicas(kube, path, 3, manager="kubectl-edit")[1].status == 200
    # rise now conflicts with the updater on replicas, as with any manager.
    reply = kube.apply(captured_body(8, kube_namespace))
    assert reply.status == 409
    assert reply.body["details"]["causes"][0]["field"] == ".spec.replicas"
    assert reply.body["details"]["causes"][0]["message"].startswith(
        'conflict with "kubectl-edit" using apps/v1'
    )


def test_lease_optimistic_concurrency(kube: Kube) -> None:
    """Leader election: two candidates race on one Lease with resourceVersion checks."""
    body = captured_body(32, "default")
    body["metadata"]["name"] = f"rise-reconciler-{id(kube) % 100000}"
    name = body["metadata"]["name"]
    path = collection_path("Lease", "default")
    created = kube.request("POST", path, body)
    try:
        want = captured_response(32)
        assert created.status == 201
        assert created.body["spec"] == want["spec"]
        assert "generation" not in created.meta
        fields = created.meta["managedFields"][0]
        assert fields["operation"] == "Update"
        assert fields["fieldsV1"] == want["metadata"]["managedFields"][0]["fieldsV1"]

        a = kube.request("GET", f"{path}/{name}").body
        b = copy.deepcopy(a)
        a["spec"]["holderIdentity"] = "rise-a"
        a["spec"]["renewTime"] = "2026-11-22T21:00:10.000000Z"
        b["spec"]["holderIdentity"] = "rise-b"
        b["spec"]["leaseTransitions"] = 1
        assert kube.request("PUT", f"{path}/{name}", a).status == 200
        lost = kube.request("PUT", f"{path}/{name}", b)
        assert lost.status == 409
        assert "the object has been modified" in lost.body["message"]
        assert lost.body["details"] == {
            "name": name,
            "group": "coordination.k8s.io",
            "kind": "leases",
        }
        assert kube.request("GET", f"{path}/{name}").body["spec"]["holderIdentity"] == "rise-a"
    finally:
        kube.request("DELETE", f"{path}/{name}")


def test_merge_and_strategic_patches(kube: Kube, kube_namespace: str) -> None:
    kube.apply(captured_body(8, kube_namespace))
    path = object_path("Deployment", "demo-20261122-1530", kube_namespace)
    merged = kube.request(
        "PATCH",
        path,
        {"metadata": {"labels": {"extra": "yes"}}},
        content_type="application/merge-patch+json",
    )
    assert merged.status == 200
    assert merged.meta["labels"]["extra"] == "yes"
    assert merged.meta["generation"] == 1  # metadata only

    strategic = kube.request(
        "PATCH",
        path,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}},
        content_type="application/strategic-merge-patch+json",
    )
    container = strategic.body["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]  # merged by name
    assert strategic.meta["generation"] == 2

    removed = kube.request(
        "PATCH",
        path,
        {"metadata": {"labels": {"extra": None}}},
        content_type="application/merge-patch+json",
    )
    assert "extra" not in removed.meta["labels"]

    jsonpatch = kube.request(
        "PATCH",
        path,
        [{"op": "replace", "path": "/spec/replicas", "value": 3}],
        content_type="application/json-patch+json",
    )
    assert jsonpatch.body["spec"]["replicas"] == 3


def test_delete_deployment(kube: Kube, kube_target: KubeTarget, kube_namespace: str) -> None:
    kube.apply(captured_body(22, kube_namespace))
    created = kube.get("Deployment", "extra-1", kube_namespace).body
    reply = kube.delete("Deployment", "extra-1", kube_namespace, propagationPolicy="Background")
    want = captured_response(34)
    assert reply.status == 200
    assert reply.body == {
        **want,
        "details": {**want["details"], "uid": created["metadata"]["uid"]},
    }
    assert kube.get("Deployment", "extra-1", kube_namespace).status == 404
    selector = "rise.dev/deployment-id=20261122-1530"
    eventually(lambda: not kube.list("ReplicaSet", kube_namespace).body["items"])
    eventually(lambda: not kube.list("Pod", kube_namespace, labelSelector=selector).body["items"])
    again = kube.delete("Deployment", "extra-1", kube_namespace)
    assert again.status == 404


def test_delete_namespace_terminates_then_goes(kube: Kube, kube_target: KubeTarget) -> None:
    name = f"rise-del-{id(kube) % 100000}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    kube.apply(_configmap(name, "inside"))
    if kube_target.is_loopback:
        kube_target.loopback.namespace_delete_delay = 30.0  # hold Terminating for the asserts

    reply = kube.delete("Namespace", name)
    want = captured_response(35)
    assert reply.status == 200
    assert reply.body["kind"] == "Namespace"
    assert reply.body["status"] == want["status"] == {"phase": "Terminating"}
    assert reply.meta["deletionTimestamp"]
    assert reply.body["spec"] == want["spec"]
    got = kube.get("Namespace", name)
    assert got.status == 200 and got.body["status"] == captured_response(36)["status"]

    refused = kube.request("POST", collection_path("ConfigMap", name), _configmap(name, "late"))
    assert refused.status == 403
    assert refused.body["reason"] == "Forbidden"
    assert "because it is being terminated" in refused.body["message"]

    if kube_target.is_loopback:
        assert kube.get("ConfigMap", "inside", name).status == 404  # contents go at once
        kube_target.loopback.namespace_delete_delay = 0
    eventually(lambda: kube.get("Namespace", name).status == 404)
    assert kube.get("ConfigMap", "inside", name).status == 404


def test_watch_streams_current_objects_then_changes(kube: Kube, kube_namespace: str) -> None:
    import threading

    from kubernetes import watch

    kube.apply(_configmap(kube_namespace, "a", {"w": "1"}))
    kube.apply(_configmap(kube_namespace, "b", {"w": "1"}))
    start_rv = kube.list("ConfigMap", kube_namespace).meta["resourceVersion"]

    def change() -> None:
        time.sleep(0.1)
        changed = _configmap(kube_namespace, "a", {"w": "1"})
        changed["data"] = {"k": "changed"}
        kube.apply(changed)
        kube.delete("ConfigMap", "b", kube_namespace)

    core = client.CoreV1Api(kube.api_client)
    stream = watch.Watch()
    events: list[tuple[str, str]] = []
    worker = threading.Thread(target=change)
    worker.start()
    for event in stream.stream(
        core.list_namespaced_config_map, kube_namespace, label_selector="w=1", timeout_seconds=10
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 4:
            stream.stop()
    worker.join()
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]

    # Resuming from a resourceVersion replays only what happened after it.
    resumed: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map,
        kube_namespace,
        label_selector="w=1",
        resource_version=start_rv,
        timeout_seconds=10,
    ):
        resumed.append((event["type"], event["object"].metadata.name))
        if len(resumed) == 2:
            stream.stop()
    assert resumed == [("MODIFIED", "a"), ("DELETED", "b")]


def test_concurrent_lease_updates_never_lose_one(kube: Kube, kube_target: KubeTarget) -> None:
    """Every successful optimistic update counts; the losers see 409 and retry."""
    from concurrent.futures import ThreadPoolExecutor

    body = captured_body(32, "default")
    name = body["metadata"]["name"] = f"race-{id(kube) % 100000}"
    path = f"{collection_path('Lease', 'default')}/{name}"
    assert kube.request("POST", collection_path("Lease", "default"), body).status == 201
    conflicts = []

    def bump(worker: int) -> None:
        with kube_target.api_client() as api_client:
            mine = Kube(api_client)
            done = 0
            while done < 5:
                lease = mine.request("GET", path).body
                lease["spec"]["leaseTransitions"] += 1
                lease["spec"]["holderIdentity"] = f"rise-{worker}"
                reply = mine.request("PUT", path, lease)
                if reply.status == 409:
                    conflicts.append(worker)
                    continue
                assert reply.status == 200, reply.body
                done += 1

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(bump, range(4)))
        final = kube.request("GET", path).body
        assert final["spec"]["leaseTransitions"] == 20
    finally:
        kube.request("DELETE", path)
