"""How healthy a deployment is, from live objects alone (pure; SPEC §5 "assesses health").

The rules follow ``kubectl rollout status``: a Deployment is available when its controller
has seen the newest spec (observedGeneration), every replica runs the newest template
(updatedReplicas) and is available (availableReplicas), and no old replica is left. A rollout
whose pods wait with a reason that does not fix itself (ImagePullBackOff, CrashLoopBackOff...)
or whose progress deadline passed has failed. Counts the API server leaves out mean 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.status import StatusState

Obj = Mapping[str, Any]

# Container waiting reasons that mean the rollout will not finish by itself.
FAILING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class DeploymentHealth:
    state: StatusState
    reason: str | None = None
    available: bool = False
    """Ready for traffic: the Service may point at it (a stopped one counts as available)."""


@dataclass(frozen=True)
class ProjectHealth:
    state: StatusState
    reason: str | None = None
    deployment_id: str | None = None
    """The deployment this is about: the one rolling out, or the one serving."""
    deployments: dict[str, DeploymentHealth] = field(default_factory=dict)


def summarise_deployment(obj: Obj) -> dict[str, Any]:
    """The part of a live Deployment health needs; small enough to keep for 10,000 apps."""
    status = obj.get("status") or {}
    conditions = [  # only Progressing says anything the counts do not
        {k: c.get(k) for k in ("type", "reason", "message")}
        for c in status.get("conditions") or []
        if c.get("type") == "Progressing"
    ]
    return {
        "generation": (obj.get("metadata") or {}).get("generation"),
        "replicas": (obj.get("spec") or {}).get("replicas", 1),
        "status": {
            **{k: status[k] for k in _STATUS_COUNTS if k in status},
            "conditions": conditions,
        },
    }


_STATUS_COUNTS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
)


def assess_deployment(summary: Obj | None, pods: Iterable[Obj] = ()) -> DeploymentHealth:
    """Health of one Deployment (a ``summarise_deployment`` result) and, optionally, its pods."""
    if summary is None:
        return DeploymentHealth("deploying", "the Deployment does not exist yet")
    status = summary.get("status") or {}
    wanted = int(summary.get("replicas") or 0)
    generation = summary.get("generation")
    if generation is not None and int(status.get("observedGeneration") or 0) < int(generation):
        return DeploymentHealth("deploying", "waiting for the Deployment controller to see it")
    deadline = _condition(status, "Progressing")
    if deadline and deadline.get("reason") == "ProgressDeadlineExceeded":
        return DeploymentHealth("failed", f"ProgressDeadlineExceeded: {deadline.get('message')}")
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated >= wanted and available >= wanted and total <= updated:
        if wanted == 0:
            return DeploymentHealth("stopped", "scaled to 0 replicas", available=True)
        return DeploymentHealth("running", None, available=True)
    failure = pod_failure(pods)
    if failure:
        return DeploymentHealth("failed", failure)
    if updated < wanted:
        return DeploymentHealth("deploying", f"{updated} of {wanted} replicas updated")
    if total > updated:
        return DeploymentHealth("deploying", f"{total - updated} old replicas still terminating")
    return DeploymentHealth("deploying", f"{available} of {wanted} replicas available")


def pod_failure(pods: Iterable[Obj]) -> str | None:
    """``<reason>: <message>`` of the first container waiting for a reason that will not pass."""
    for pod in pods:
        status = pod.get("status") or {}
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in FAILING_REASONS:
                message = waiting.get("message")
                return f"{reason}: {message}" if message else str(reason)
    return None


def ingress_note(ingress: Obj | None) -> str | None:
    """A word when the Ingress has no address yet (no ingress controller has taken it up)."""
    if ingress is None:
        return None
    addresses = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if addresses:
        return None
    return "the Ingress has no address yet (is an ingress controller running?)"


def project_health(
    desired_id: str | None,
    desired: DeploymentHealth | None,
    serving_id: str | None = None,
    serving: DeploymentHealth | None = None,
    note: str | None = None,
) -> ProjectHealth:
    """The project's status from its desired deployment and the one the Service still selects.

    ``serving_id``/``serving`` describe the previous deployment while the desired one is not
    yet available (blue/green): it keeps the traffic, which the reason says.
    """
    if desired_id is None or desired is None:
        return ProjectHealth("stopped", "no deployment")
    deployments = {desired_id: desired}
    keeps = serving_id is not None and serving_id != desired_id and serving is not None
    if keeps and serving is not None and serving_id is not None:
        until = f"serving until {desired_id} is available"
        deployments[serving_id] = replace(serving, reason=serving.reason or until)
    reason = desired.reason
    if keeps and desired.state in ("deploying", "failed"):
        reason = f"{reason}; {serving_id} keeps serving" if reason else f"{serving_id} serving"
    elif desired.state == "running" and note:
        reason = note
    return ProjectHealth(desired.state, reason, desired_id, deployments)


def _condition(status: Obj, kind: str) -> Obj | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None
