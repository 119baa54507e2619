"""Health assessment from live objects (pure), starting from what kube-apiserver returned."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.health import (
    DeploymentHealth,
    assess_deployment,
    ingress_note,
    pod_failure,
    project_health,
    summarise_deployment,
)
from tests.kubeapi._kube import captured_response


def _captured() -> dict[str, Any]:
    """A Deployment as the controller-manager left it: 1 replica, not available (capture 33)."""
    return copy.deepcopy(captured_response(33))


def _available(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj["status"]
    status.pop("unavailableReplicas", None)
    status["availableReplicas"] = status["readyReplicas"] = obj["spec"]["replicas"]
    status["conditions"][1]["reason"] = "NewReplicaSetAvailable"
    return obj


def _pod(reason: str | None, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": "2026-11-22T21:44:47Z"}}
    if reason:
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    return {"status": {"containerStatuses": [{"name": "app", "state": state}]}}


def test_a_captured_deployment_without_ready_pods_is_deploying() -> None:
    health = assess_deployment(summarise_deployment(_captured()))
    assert health == DeploymentHealth("deploying", "0 of 1 replicas available")


def test_all_replicas_updated_and_available_is_running() -> None:
    health = assess_deployment(summarise_deployment(_available(_captured())))
    assert health == DeploymentHealth("running", None, available=True)


def test_a_spec_the_controller_has_not_seen_is_deploying_even_when_counts_look_done() -> None:
    obj = _available(_captured())
    obj["metadata"]["generation"] = 2
    health = assess_deployment(summarise_deployment(obj))
    assert health.state == "deploying" and not health.available
    assert "controller" in (health.reason or "")


def test_old_replicas_still_running_keep_it_deploying() -> None:
    obj = _available(_captured())
    obj["status"]["replicas"] = 2  # one old pod besides the updated one
    health = assess_deployment(summarise_deployment(obj))
    assert health == DeploymentHealth("deploying", "1 old replicas still terminating")


def test_zero_replicas_is_stopped_and_counts_as_available() -> None:
    obj = _captured()
    obj["spec"]["replicas"] = 0
    obj["status"] = {"observedGeneration": 1}  # the API server omits zero counts
    assert assess_deployment(summarise_deployment(obj)) == DeploymentHealth(
        "stopped", "scaled to 0 replicas", available=True
    )


def test_failing_pods_fail_the_rollout_with_their_reason_and_message() -> None:
    pods = [_pod(None), _pod("ImagePullBackOff", 'Back-off pulling image "x@sha256:1"')]
    health = assess_deployment(summarise_deployment(_captured()), pods)
    assert health == DeploymentHealth(
        "failed", 'ImagePullBackOff: Back-off pulling image "x@sha256:1"'
    )


def test_pods_that_are_only_starting_do_not_fail_it() -> None:
    pods = [_pod("ContainerCreating"), _pod("PodInitializing")]
    assert pod_failure(pods) is None
    assert assess_deployment(summarise_deployment(_captured()), pods).state == "deploying"


def test_a_passed_progress_deadline_fails_it() -> None:
    obj = _captured()
    obj["status"]["conditions"][1].update(
        status="False", reason="ProgressDeadlineExceeded", message="timed out progressing."
    )
    health = assess_deployment(summarise_deployment(obj))
    assert health.state == "failed"
    assert health.reason == "ProgressDeadlineExceeded: timed out progressing."


def test_a_missing_deployment_is_deploying() -> None:
    assert assess_deployment(None).state == "deploying"


def test_the_serving_deployment_is_named_while_the_new_one_rolls_out_or_fails() -> None:
    new = DeploymentHealth("failed", "CrashLoopBackOff: back-off 10s")
    old = DeploymentHealth("running", None, available=True)
    health = project_health("id-2", new, "id-1", old)
    assert health.state == "failed" and health.deployment_id == "id-2"
    assert health.reason == "CrashLoopBackOff: back-off 10s; id-1 keeps serving"
    serving = DeploymentHealth("running", "serving until id-2 is available", available=True)
    assert health.deployments == {"id-2": new, "id-1": serving}


def test_no_deployment_is_stopped() -> None:
    assert project_health(None, None).state == "stopped"


def test_an_ingress_without_address_is_noted_but_not_a_failure() -> None:
    running = DeploymentHealth("running", None, available=True)
    note = ingress_note({"status": {"loadBalancer": {}}})
    health = project_health("id-1", running, note=note)
    assert health.state == "running" and "no address" in (health.reason or "")
    assert ingress_note({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}}) is None


@given(
    replicas=st.integers(0, 5),
    updated=st.integers(0, 6),
    available=st.integers(0, 6),
    total=st.integers(0, 8),
    observed=st.integers(0, 3),
    generation=st.integers(1, 3),
)
def test_available_exactly_when_the_rollout_is_complete(
    replicas: int, updated: int, available: int, total: int, observed: int, generation: int
) -> None:
    status = {
        "observedGeneration": observed,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "replicas": total,
    }
    summary = {"generation": generation, "replicas": replicas, "status": status}
    health = assess_deployment(summary, [_pod("CrashLoopBackOff")])
    complete = (
        observed >= generation
        and updated >= replicas
        and available >= replicas
        and total <= updated
    )
    assert health.available == complete
    assert health.state in (("running", "stopped") if complete else ("deploying", "failed"))
