"""The simulated controller-manager and kubelet: Deployment status, ReplicaSets, pods, failures.

The first two tests are portable (a real cluster with RISE_TEST_KUBECONFIG runs them: any
cluster that runs pods makes the pause image ready and fails to pull from a ``.invalid``
registry host, as the double does); the rest steer the simulation and skip on a real cluster.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.kubeapi._kube import Kube, captured_response
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube

PAUSE = "registry.k8s.io/pause:3.10"


def _deployment(namespace: str, name: str = "web", replicas: int = 2, image: str = PAUSE) -> dict:
    labels = {"rise.dev/project": "demo", "rise.dev/deployment-id": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "rise", **labels},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _selector(name: str = "web") -> str:
    return f"rise.dev/project=demo,rise.dev/deployment-id={name}"


def _conditions(obj: dict) -> dict[str, dict]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions") or []}


def _available(kube: Kube, namespace: str, name: str = "web") -> dict | None:
    d: dict[str, Any] = kube.get("Deployment", name, namespace).body
    status = d.get("status", {})
    ok = (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("availableReplicas") == d["spec"]["replicas"]
        and status.get("updatedReplicas") == d["spec"]["replicas"]
        and _conditions(d).get("Progressing", {}).get("reason") == "NewReplicaSetAvailable"
    )
    return d if ok else None


def _pods(kube: Kube, namespace: str, name: str = "web") -> list[dict]:
    items: list[dict] = kube.list("Pod", namespace, labelSelector=_selector(name)).body["items"]
    return items


def _waiting_reasons(pod: dict) -> set[str]:
    return {
        s.get("state", {}).get("waiting", {}).get("reason", "")
        for s in pod.get("status", {}).get("containerStatuses") or []
    }


def test_healthy_rollout_becomes_available_with_running_pods(
    kube: Kube, kube_namespace: str
) -> None:
    applied = kube.apply(_deployment(kube_namespace))
    assert applied.status == 201 and applied.body["status"] == {}
    d = eventually(lambda: _available(kube, kube_namespace))
    status = d["status"]
    assert status["replicas"] == status["readyReplicas"] == 2
    assert "unavailableReplicas" not in status
    conditions = _conditions(d)
    assert conditions["Available"]["status"] == "True"
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["status"] == "True"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert any(m["manager"] == "kube-controller-manager" for m in d["metadata"]["managedFields"])

    pods = eventually(
        lambda: [p for p in _pods(kube, kube_namespace) if p["status"].get("phase") == "Running"]
    )
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["labels"]["app"] == "web"  # the template's labels
        assert "pod-template-hash" in pod["metadata"]["labels"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert all(s["ready"] for s in pod["status"]["containerStatuses"])


def test_image_pull_failure_keeps_deployment_unavailable(kube: Kube, kube_namespace: str) -> None:
    image = "registry.invalid/rise/missing:v1"  # a host that cannot exist: no kubelet pulls it
    kube.apply(_deployment(kube_namespace, replicas=1, image=image))
    pod = eventually(
        lambda: next(
            (
                p
                for p in _pods(kube, kube_namespace)
                if _waiting_reasons(p) & {"ImagePullBackOff", "ErrImagePull"}
            ),
            None,
        )
    )
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    d = kube.get("Deployment", "web", kube_namespace).body
    assert "availableReplicas" not in d["status"]  # zero counts are omitted, as in capture 33
    assert _conditions(d)["Available"]["status"] == "False"
    assert _conditions(d)["Progressing"]["status"] == "True"


def test_status_moves_tick_by_tick_like_the_controller(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str
) -> None:
    server = kube_target.loopback
    server.auto_tick = False
    server.rollout_ticks = 3
    kube.apply(_deployment(kube_namespace, replicas=1))
    assert kube.get("Deployment", "web", kube_namespace).body["status"] == {}

    server.tick()
    first = kube.get("Deployment", "web", kube_namespace).body
    assert _conditions(first)["Progressing"]["reason"] == "NewReplicaSetCreated"
    server.tick()
    second = kube.get("Deployment", "web", kube_namespace).body
    want = captured_response(33)["status"]
    got = copy.deepcopy(second["status"])
    for c in got["conditions"] + want["conditions"]:
        c.pop("lastUpdateTime"), c.pop("lastTransitionTime")
        c["message"] = c["message"].split('"')[0]
    assert got == want  # the shape of capture 33: progressing, not yet available
    pods = _pods(kube, kube_namespace)
    assert _waiting_reasons(pods[0]) == {"ContainerCreating"}

    server.tick()
    assert _available(kube, kube_namespace)
    rv = kube.get("Deployment", "web", kube_namespace).meta["resourceVersion"]
    server.tick(5)  # converged: the controller has nothing more to write
    assert kube.get("Deployment", "web", kube_namespace).meta["resourceVersion"] == rv


def test_crash_loop_then_heal(kube: Kube, kube_target: KubeTarget, kube_namespace: str) -> None:
    server = kube_target.loopback
    kube.apply(_deployment(kube_namespace, replicas=1))
    assert _available(kube, kube_namespace)
    server.fail_pods(kube_namespace, "web", reason="CrashLoopBackOff", message="exit 1")
    pods = _pods(kube, kube_namespace)
    status = pods[0]["status"]
    assert status["phase"] == "Running"
    container = status["containerStatuses"][0]
    assert container["state"]["waiting"] == {"reason": "CrashLoopBackOff", "message": "exit 1"}
    assert container["restartCount"] > 0 and "terminated" in container["lastState"]
    d = kube.get("Deployment", "web", kube_namespace).body
    assert _conditions(d)["Available"]["status"] == "False"
    assert "availableReplicas" not in d["status"]
    events = kube.list("Event", kube_namespace).body["items"]
    assert any(e["involvedObject"]["name"] == pods[0]["metadata"]["name"] for e in events)

    server.heal_pods(kube_namespace, "web")
    assert _available(kube, kube_namespace)
    assert _waiting_reasons(_pods(kube, kube_namespace)[0]) == {""}


def test_failed_update_leaves_old_pods_serving(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str
) -> None:
    server = kube_target.loopback
    kube.apply(_deployment(kube_namespace, replicas=1, image="registry.example/app:v1"))
    assert _available(kube, kube_namespace)
    server.fail_pods(kube_namespace)  # every deployment in the namespace, from now on
    kube.apply(_deployment(kube_namespace, replicas=1, image="registry.example/app:v2"))
    d = kube.get("Deployment", "web", kube_namespace).body
    assert d["status"]["observedGeneration"] == 2
    assert d["status"]["availableReplicas"] == 1  # the old pod
    assert d["status"]["replicas"] == 2
    assert _conditions(d)["Progressing"]["reason"] == "NewReplicaSetCreated"
    d = kube.get("Deployment", "web", kube_namespace).body  # one more controller step
    assert _conditions(d)["Progressing"]["reason"] == "ReplicaSetUpdated"
    assert _conditions(d)["Available"]["status"] == "True"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    images = sorted(p["spec"]["containers"][0]["image"] for p in _pods(kube, kube_namespace))
    assert images == ["registry.example/app:v1", "registry.example/app:v2"]

    server.expire_progress_deadline(kube_namespace, "web")
    d = kube.get("Deployment", "web", kube_namespace).body
    assert _conditions(d)["Progressing"]["status"] == "False"
    assert _conditions(d)["Progressing"]["reason"] == "ProgressDeadlineExceeded"

    server.heal_pods(kube_namespace)
    assert _available(kube, kube_namespace)
    images = [p["spec"]["containers"][0]["image"] for p in _pods(kube, kube_namespace)]
    assert images == ["registry.example/app:v2"]
    sets = kube.list("ReplicaSet", kube_namespace).body["items"]
    assert sorted(s["spec"]["replicas"] for s in sets) == [0, 1]


def test_controller_writes_are_not_client_writes(
    kube: Kube, kube_target: KubeTarget, kube_namespace: str
) -> None:
    server = kube_target.loopback
    kube.apply(_deployment(kube_namespace, replicas=1))
    seen = kube.get("Deployment", "web", kube_namespace).body  # the controller acts on this GET
    assert seen["status"]["availableReplicas"] == 1
    server.clear_log()
    again = kube.apply(_deployment(kube_namespace, replicas=1))
    assert again.meta["resourceVersion"] == seen["metadata"]["resourceVersion"]
    assert [w.method for w in server.writes()] == ["PATCH"]
    assert server.writes(effective=True) == []


def test_scale_to_zero_and_back(kube: Kube, kube_target: KubeTarget, kube_namespace: str) -> None:
    kube_target.loopback  # noqa: B018 - skip on a real cluster
    kube.apply(_deployment(kube_namespace, replicas=2))
    assert len(_pods(kube, kube_namespace)) == 2
    kube.apply(_deployment(kube_namespace, replicas=0))
    d = _available(kube, kube_namespace)
    assert d is None or "replicas" not in d["status"]
    assert _pods(kube, kube_namespace) == []
    d = kube.get("Deployment", "web", kube_namespace).body
    assert _conditions(d)["Available"]["status"] == "True"
    kube.apply(_deployment(kube_namespace, replicas=3))
    assert _available(kube, kube_namespace)
    assert len(_pods(kube, kube_namespace)) == 3
