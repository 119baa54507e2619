"""The Kubernetes runtime's steps, each on its own: inventory, apply, prune, health, errors.

Against ``kube_target``: the loopback double, or a real cluster with RISE_TEST_KUBECONFIG
(tests that need fault injection or the request log skip there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.render import render_project
from reconciler.runtimes.base import Desired, DesiredIndex, ObjectRef, SyncError
from reconciler.runtimes.kubernetes import KubernetesRuntime, _Tally
from reconciler.runtimes.rollout import LiveObject
from reconciler.state import StateRepo
from tests.reconciler.runtimes.helpers import KubeEnv, commit, make_env, project_files
from tests.support.kubeapi import Fault
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube


@pytest.fixture
def env(kube_target: KubeTarget, tmp_path: Path) -> Iterator[KubeEnv]:
    yield from make_env(kube_target, tmp_path)


def _render(env: KubeEnv, name: str, **kwargs: Any) -> list[Desired]:
    commit(env.repo, project_files(name, **kwargs))
    state = StateRepo(env.repo.path).snapshot().projects[name]
    return [Desired(obj) for obj in render_project(state, env.settings, None)]


def _sync_all(runtime: KubernetesRuntime, desired: dict[str, list[Desired]]) -> dict[str, Any]:
    live = runtime.inventory(DesiredIndex(desired.values()))
    return {
        name: runtime.sync(name, objs, live.get(name), fresh=True) for name, objs in desired.items()
    }


def test_inventory_is_one_paginated_list_per_kind_of_rise_objects_only(env: KubeEnv) -> None:
    runtime = env.runtime(page_size=2)
    desired = {name: _render(env, name) for name in ("a", "b", "c")}
    _sync_all(runtime, desired)
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mine", "namespace": env.namespace("a")},
    }
    env.kube.apply(foreign, manager="someone")
    env.reset_counts()
    live = runtime.inventory(DesiredIndex(desired.values()))
    assert sorted(live) == ["a", "b", "c"]
    assert {ref.kind for ref in live["a"]} == {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "Ingress",
        "NetworkPolicy",
    }
    assert not any(obj.drifted for objs in live.values() for obj in objs.values())
    # 3 objects of each of 6 kinds at 2 a page: 2 pages each; no Secret at all: 1 page.
    assert runtime.request_counts == {"list": 13}
    if env.target.is_loopback:
        gets = env.target.loopback.requests()
        assert len(gets) == 13 and all(r.method == "GET" for r in gets)
        assert all(r.query["labelSelector"] == [runtime.selector] for r in gets)
    assert runtime.selector == (
        f"app.kubernetes.io/managed-by=rise,rise.dev/installation={env.prefix}"
    )


def test_another_installation_on_the_cluster_sees_none_of_it(env: KubeEnv) -> None:
    mine = env.runtime()
    desired = {name: _render(env, name) for name in ("a", "b")}
    _sync_all(mine, desired)
    other = env.runtime(installation=f"{env.prefix}-other")
    assert other.inventory(DesiredIndex(desired.values())) == {}
    # To the other installation, a's objects are someone else's: they keep the namespace.
    assert sorted(other.foreign_objects(env.namespace("a"))) == sorted(
        f"{d.ref.kind} {d.ref.name}" for d in desired["a"] if d.ref.kind != "Namespace"
    )
    live = mine.inventory(DesiredIndex(desired.values()))
    assert sorted(live) == ["a", "b"]
    for ref in live["a"]:
        obj = env.get(ref.kind, ref.name, ref.namespace or None)
        assert obj is not None and obj["metadata"]["labels"]["rise.dev/installation"] == env.prefix
    deployment = env.get("Deployment", desired["a"][2].ref.name, env.namespace("a"))
    assert deployment is not None
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["rise.dev/installation"] == env.prefix


def test_apply_writes_only_what_changed(env: KubeEnv) -> None:
    runtime = env.runtime()
    first = _render(env, "web")
    tally, live = _Tally(), dict[ObjectRef, LiveObject]()
    runtime.apply(first, live, tally)
    assert tally.applied == 6 and set(live) == {d.ref for d in first}
    env.reset_counts()
    second = _render(env, "web", variables={"GREETING": "hi"})  # only the Deployment's env changes
    tally = _Tally()
    runtime.apply(second, live, tally)
    assert (tally.applied, tally.unchanged) == (1, 5)
    assert runtime.request_counts == {"apply": 1}
    deployment = env.get("Deployment", second[2].ref.name, env.namespace("web"))
    assert deployment is not None
    env_vars = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GREETING", "value": "hi"} in env_vars


def test_a_hand_edit_that_keeps_the_hash_is_found_and_undone(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = {"web": _render(env, "web", replicas=2)}
    _sync_all(runtime, desired)
    name = desired["web"][2].ref.name
    env.kube.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{env.namespace('web')}/deployments/{name}",
        {"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "kubectl-edit"},
    )
    live = runtime.inventory(DesiredIndex(desired.values()))
    drifted = [str(ref) for ref, obj in live["web"].items() if obj.drifted]
    assert drifted == [f"Deployment {env.namespace('web')}/{name}"]
    env.reset_counts()
    result = runtime.sync("web", desired["web"], live["web"], fresh=True)
    assert (result.applied, result.unchanged) == (1, 5)
    deployment = env.get("Deployment", name, env.namespace("web"))
    assert deployment is not None and deployment["spec"]["replicas"] == 2


def test_prune_keeps_a_namespace_holding_objects_rise_does_not_own(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = {"web": _render(env, "web")}
    _sync_all(runtime, desired)
    ns = env.namespace("web")
    env.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "notes", "namespace": ns},
            "data": {"a": "b"},
        },
        manager="someone",
    )
    live = runtime.inventory(DesiredIndex())
    result = runtime.remove("web", live["web"])
    assert result.error is None and result.pruned == 5
    assert result.notes == [
        f"kept namespace {ns}: it holds ConfigMap notes, which rise does not manage"
    ]
    assert env.get("Namespace", ns) is not None
    assert env.get("ConfigMap", "notes", ns) is not None
    assert env.get("Service", "app", ns) is None
    assert list(result.live or {}) == [ObjectRef("Namespace", "", ns)]


def test_a_namespace_holding_only_what_the_cluster_injects_is_deleted(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = {"web": _render(env, "web")}
    _sync_all(runtime, desired)
    ns = env.namespace("web")
    # What a mesh injects into every namespace (Istio's controller writes it), next to the
    # kube-root-ca.crt every cluster puts there.
    injected = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio-ca-root-cert", "namespace": ns},
        "data": {"root-cert.pem": "x"},
    }
    path = f"/api/v1/namespaces/{ns}/configmaps"
    reply = env.kube.request("POST", path, injected, query={"fieldManager": "pilot-discovery"})
    assert reply.status == 201
    live = runtime.inventory(DesiredIndex())
    assert runtime.foreign_objects(ns) == []
    result = runtime.remove("web", live["web"])
    assert result.error is None and result.notes == [] and result.pruned == 6
    assert result.live == {}
    namespace = env.get("Namespace", ns)
    assert namespace is None or namespace["status"]["phase"] == "Terminating"


def test_an_object_a_person_put_beside_the_injected_ones_keeps_the_namespace(
    env: KubeEnv,
) -> None:
    runtime = env.runtime()
    _sync_all(runtime, {"web": _render(env, "web")})
    ns = env.namespace("web")
    # Someone edited the injected root CA by hand: now a person has a stake in it.
    path = f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
    reply = env.kube.request(
        "PATCH",
        path,
        {"metadata": {"labels": {"team": "ops"}}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "kubectl-label"},
    )
    assert reply.status == 200
    assert runtime.foreign_objects(ns) == ["ConfigMap kube-root-ca.crt"]


def test_an_object_the_api_server_cannot_type_is_a_permanent_error(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = _render(env, "web")
    bad = desired[2].obj()
    bad["spec"]["replicas"] = "two"  # what validation before apply normally catches
    with pytest.raises(SyncError) as caught:
        runtime.apply([*desired[:2], Desired(bad)], {}, _Tally())
    assert not caught.value.transient
    assert "HTTP 500" in caught.value.message and "typed patch" in caught.value.message


def test_a_field_the_api_server_does_not_know_is_named_with_its_object(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = _render(env, "web")
    bad = desired[2].obj()
    bad["spec"]["replicaz"] = 2  # a template's typo, with or without fieldValidation=Strict
    with pytest.raises(SyncError) as caught:
        runtime.apply([*desired[:2], Desired(bad)], {}, _Tally())
    assert not caught.value.transient
    ref = desired[2].ref
    assert caught.value.message.startswith(
        f"applying {ref}: the API server's Deployment schema has no field .spec.replicaz (HTTP 500"
    )
    assert caught.value.ref == ref


def test_throttling_server_errors_and_timeouts_are_transient(env: KubeEnv) -> None:
    loopback = env.target.loopback
    runtime = env.runtime(timeout=0.5)
    desired = _render(env, "web")
    cases = [
        (Fault.throttle(method="PATCH", retry_after=7), "HTTP 429", 7.0),
        (Fault.error(503, method="PATCH"), "HTTP 503", None),
        (Fault.delay(2.0, method="PATCH"), "no answer", None),
        (Fault.drop(method="PATCH"), "no answer", None),
    ]
    for fault, text, retry_after in cases:
        loopback.inject(fault)
        with pytest.raises(SyncError) as caught:
            runtime.apply(desired, {}, _Tally())
        assert caught.value.transient and text in caught.value.message
        assert caught.value.retry_after == retry_after


def test_api_errors_about_a_secret_never_carry_its_values(env: KubeEnv) -> None:
    loopback = env.target.loopback
    runtime = env.runtime()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "app-env",
            "namespace": env.namespace("web"),
            "annotations": {"rise.dev/spec-hash": "x"},
        },
        "data": {"TOKEN": "c3VwZXItc2VjcmV0LXZhbHVl"},
    }  # super-secret-value
    loopback.inject(
        Fault.error(422, method="PATCH", message="data[TOKEN]: Invalid value: super-secret-value")
    )
    with pytest.raises(SyncError) as caught:
        runtime.apply([Desired(secret)], {}, _Tally())
    assert "super-secret-value" not in caught.value.message
    assert "********" in caught.value.message and not caught.value.transient


def test_every_request_is_counted_client_side(env: KubeEnv) -> None:
    runtime = env.runtime()
    desired = {"web": _render(env, "web")}
    results = _sync_all(runtime, desired)
    counts = runtime.request_counts
    # One LIST per kind, 6 applies, a GET of the new Deployment's status and, on a cluster
    # where its controller saw it but its pods are not ready yet, a LIST of its pods.
    pod_lists = counts["list"] - 7
    assert pod_lists in (0, 1) and (pod_lists == 0 or results["web"].health.state == "deploying")
    assert counts == {"list": 7 + pod_lists, "apply": 6, "get": 1}
    if env.target.is_loopback:
        assert len(env.target.loopback.requests()) == sum(counts.values())
