"""A stand-in for kube-controller-manager's Deployment/ReplicaSet controllers and a kubelet.

Each tick reconciles the Deployments that changed: it makes the ReplicaSet for the current pod
template (named `<deployment>-<template hash>`, as the real controller does), gives it pods
carrying the template's labels plus `pod-template-hash`, and writes Deployment status the way
capture 33 shows it. A pod becomes ready `ticks_to_ready` ticks after it was made (0: at once),
unless the test declared its deployment's pods failing (`fail_pods`): then its containers wait
with that reason and the Deployment never becomes available. Old ReplicaSets keep their pods
until the new one is fully ready, so a failed rolling update leaves the old pods serving.

Status writes go through the API layer as manager `kube-controller-manager` on the `status`
subresource, so they bump resourceVersion and show up in managedFields as in captures 09-15.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import resources
from .fieldpath import clone
from .resources import Resource

if TYPE_CHECKING:
    from .apiserver import ApiServer

_Obj = dict[str, Any]
_Key = tuple[str, str]

_MANAGER = "kube-controller-manager"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphabet
_NODE = "loopback-node"


@dataclass
class PodFailure:
    reason: str  # the container waiting reason, e.g. ImagePullBackOff, CrashLoopBackOff
    message: str | None = None


@dataclass
class _Progress:
    uid: str
    generation: int
    completed: bool = False
    deadline_exceeded: bool = False


def _safe_encode(data: bytes, length: int) -> str:
    digest = hashlib.sha256(data).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


def template_hash(template: _Obj) -> str:
    """A stable `pod-template-hash` for a pod template (10 characters, like 56699b974c)."""
    return _safe_encode(repr(_canonical(template)).encode(), 10)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def _owned_by(obj: _Obj, uid: str) -> bool:
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner: _Obj) -> _Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _max_unavailable(deployment: _Obj, replicas: int) -> int:
    strategy = deployment["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return replicas
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return replicas * int(value[:-1]) // 100
    return int(value)


class RolloutSimulator:
    def __init__(self, api: ApiServer, *, ticks_to_ready: int = 1) -> None:
        self._api = api
        self.ticks_to_ready = ticks_to_ready
        self.reset()

    def reset(self) -> None:
        self._ticks = 0
        self._progress: dict[_Key, _Progress] = {}
        self._dirty: set[_Key] = set()
        self._failures: dict[tuple[str, str | None], PodFailure] = {}
        self._unpullable: dict[str, PodFailure] = {}  # image -> how pulling it fails
        self._pod_born: dict[str, int] = {}  # pod uid -> tick it was made in
        self._deadline: set[_Key] = set()
        self._pod_counter = 0

    # --- test controls -------------------------------------------------------------

    def fail_pods(self, namespace: str, deployment: str | None, failure: PodFailure) -> None:
        self._failures[(namespace, deployment)] = failure
        self._mark(namespace, deployment)

    def heal_pods(self, namespace: str, deployment: str | None) -> None:
        self._failures.pop((namespace, deployment), None)
        self._mark(namespace, deployment)

    def unpullable(self, image: str, failure: PodFailure) -> None:
        """Pods of any Deployment whose template uses `image` fail to pull it, as a kubelet
        fails on an image no registry has."""
        self._unpullable[image] = failure
        for d in self._api.store.items(resources.by_kind("Deployment")):
            if image in _images(d):
                self._dirty.add((d["metadata"]["namespace"], d["metadata"]["name"]))

    def expire_progress_deadline(self, namespace: str, deployment: str) -> None:
        self._deadline.add((namespace, deployment))
        self._dirty.add((namespace, deployment))

    def _mark(self, namespace: str, deployment: str | None) -> None:
        if deployment is not None:
            self._dirty.add((namespace, deployment))
            return
        res = resources.by_kind("Deployment")
        for d in self._api.store.items(res, namespace):
            self._dirty.add((namespace, d["metadata"]["name"]))

    def _failure_for(self, key: _Key, deployment: _Obj) -> PodFailure | None:
        failure = self._failures.get(key) or self._failures.get((key[0], None))
        if failure is None and self._unpullable:
            failure = next(
                (self._unpullable[i] for i in _images(deployment) if i in self._unpullable), None
            )
        if failure is None:
            failure = next(filter(None, map(_unresolvable, _images(deployment))), None)
        return failure

    # --- hooks from the API layer -------------------------------------------------------

    def observe_write(self, res: Resource, obj: _Obj) -> None:
        if res.kind != "Deployment":
            return
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        progress = self._progress.get(key)
        if progress and progress.uid == meta["uid"] and progress.generation == meta["generation"]:
            return
        self._progress[key] = _Progress(uid=meta["uid"], generation=meta["generation"])
        self._deadline.discard(key)
        self._dirty.add(key)
        if self.ticks_to_ready <= 0:
            self._reconcile(key)

    def observe_delete(self, res: Resource, obj: _Obj) -> None:
        meta = obj["metadata"]
        if res.kind == "Deployment":
            self._progress.pop((meta["namespace"], meta["name"]), None)
            self._dirty.discard((meta["namespace"], meta["name"]))
        elif res.kind in ("Pod", "ReplicaSet"):
            self._pod_born.pop(meta["uid"], None)
            owner = self._deployment_of(res, obj)
            if owner is not None:
                self._dirty.add(owner)

    def _deployment_of(self, res: Resource, obj: _Obj) -> _Key | None:
        namespace = obj["metadata"].get("namespace", "")
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                return (namespace, ref["name"])
            if ref.get("kind") == "ReplicaSet":
                rs = self._api.store.get(resources.by_kind("ReplicaSet"), namespace, ref["name"])
                if rs is not None:
                    return self._deployment_of(res, rs)
        return None

    # --- the controller loop ------------------------------------------------------------

    def tick(self) -> None:
        self._ticks += 1
        for key in sorted(self._dirty):
            self._reconcile(key)

    def _reconcile(self, key: _Key) -> None:
        api = self._api
        d_res = resources.by_kind("Deployment")
        deployment = api.store.get(d_res, *key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            self._dirty.discard(key)
            return
        progress = self._progress.setdefault(
            key,
            _Progress(deployment["metadata"]["uid"], deployment["metadata"].get("generation", 1)),
        )
        desired = int(deployment["spec"].get("replicas", 1))
        rs, created = self._ensure_replica_set(deployment, desired)
        failure = self._failure_for(key, deployment)
        new_pods = self._ensure_pods(rs, desired, failure)
        new_ready = sum(1 for p in new_pods if _pod_ready(p))
        if new_ready >= desired:
            progress.completed = True
        old_sets = [
            r
            for r in api.store.items(resources.by_kind("ReplicaSet"), key[0])
            if _owned_by(r, deployment["metadata"]["uid"])
            and r["metadata"]["uid"] != rs["metadata"]["uid"]
        ]
        old_pods: list[_Obj] = []
        for old in old_sets:
            if progress.completed:
                self._scale_down(old)
            else:
                old_pods += self._pods_of(old)
        old_ready = sum(1 for p in old_pods if _pod_ready(p))
        self._write_rs_status(rs, new_pods)
        self._write_deployment_status(
            deployment,
            rs,
            progress,
            desired=desired,
            available=new_ready + old_ready,
            total=len(new_pods) + len(old_pods),
            created=created,
            deadline=key in self._deadline,
        )
        settled = progress.completed and new_ready >= desired
        # A stuck rollout is stable once its Progressing reason moved past NewReplicaSetCreated.
        if settled or (not created and (failure is not None or key in self._deadline)):
            self._dirty.discard(key)

    def _ensure_replica_set(self, deployment: _Obj, desired: int) -> tuple[_Obj, bool]:
        api = self._api
        rs_res = resources.by_kind("ReplicaSet")
        meta = deployment["metadata"]
        template = deployment["spec"]["template"]
        digest = template_hash(template)
        name = f"{meta['name']}-{digest}"
        owned = [r for r in api.store.items(rs_res, meta["namespace"]) if _owned_by(r, meta["uid"])]
        revisions = [
            int(
                (r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)
            )
            for r in owned
        ]
        existing = api.store.get(rs_res, meta["namespace"], name)
        surge = desired + _max_surge(deployment, desired)
        top = max(revisions, default=0)
        if existing is not None:
            wanted = clone(existing)
            wanted["spec"]["replicas"] = desired
            annotations = wanted["metadata"].setdefault("annotations", {})
            annotations["deployment.kubernetes.io/desired-replicas"] = str(desired)
            annotations["deployment.kubernetes.io/max-replicas"] = str(surge)
            if _revision(existing) < top:
                # Going back to an older template makes its ReplicaSet the newest revision.
                annotations["deployment.kubernetes.io/revision"] = str(top + 1)
            return api.update_internal(rs_res, existing, wanted, manager=_MANAGER), False
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels["pod-template-hash"] = digest
        selector = clone(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
        pod_template = clone(template)
        pod_template.setdefault("metadata", {})["labels"] = labels
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(desired),
                    "deployment.kubernetes.io/max-replicas": str(surge),
                    "deployment.kubernetes.io/revision": str(top + 1),
                },
                "ownerReferences": [_owner_ref(deployment)],
            },
            "spec": {"replicas": desired, "selector": selector, "template": pod_template},
        }
        return api.create_internal(rs_res, rs, manager=_MANAGER), True

    def _pods_of(self, rs: _Obj) -> list[_Obj]:
        pods = self._api.store.items(resources.by_kind("Pod"), rs["metadata"]["namespace"])
        return [p for p in pods if _owned_by(p, rs["metadata"]["uid"])]

    def _ensure_pods(self, rs: _Obj, desired: int, failure: PodFailure | None) -> list[_Obj]:
        api = self._api
        pod_res = resources.by_kind("Pod")
        pods = self._pods_of(rs)
        for extra in pods[desired:]:
            api.delete_internal(pod_res, extra["metadata"]["namespace"], extra["metadata"]["name"])
        pods = pods[:desired]
        while len(pods) < desired:
            pods.append(self._new_pod(rs))
        out = []
        for pod in pods:
            born = self._pod_born.get(pod["metadata"]["uid"], self._ticks)
            ready = failure is None and self._ticks - born + 1 >= self.ticks_to_ready
            wanted = clone(pod)
            wanted["status"] = _pod_status(pod, pod.get("status") or {}, ready, failure, api.now())
            if wanted["status"] != pod.get("status"):
                pod = api.update_internal(
                    pod_res, pod, wanted, manager="kubelet", subresource="status"
                )
                if failure is not None:
                    self._record_event(pod, failure)
            out.append(pod)
        return out

    def _new_pod(self, rs: _Obj) -> _Obj:
        self._pod_counter += 1
        meta = rs["metadata"]
        suffix = _safe_encode(f"{meta['uid']}/{self._pod_counter}".encode(), 5)
        template = rs["spec"]["template"]
        spec = clone(template.get("spec") or {})
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec["nodeName"] = _NODE
        spec.setdefault(
            "tolerations",
            [
                {
                    "key": f"node.kubernetes.io/{t}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for t in ("not-ready", "unreachable")
            ],
        )
        pod: _Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            pod["metadata"]["annotations"] = dict(annotations)
        created = self._api.create_internal(resources.by_kind("Pod"), pod, manager=_MANAGER)
        self._pod_born[created["metadata"]["uid"]] = self._ticks
        return created

    def _record_event(self, pod: _Obj, failure: PodFailure) -> None:
        meta = pod["metadata"]
        container = (pod["spec"].get("containers") or [{}])[0]
        now = self._api.now()
        event: _Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{_safe_encode(meta['uid'].encode(), 8)}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "fieldPath": f"spec.containers{{{container.get('name', '')}}}",
            },
            "reason": "BackOff",
            "message": _failure_message(pod, container, failure),
            "source": {"component": "kubelet", "host": _NODE},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": "Warning",
            "reportingComponent": "kubelet",
            "reportingInstance": _NODE,
        }
        event_res = resources.by_kind("Event")
        if self._api.store.get(event_res, meta["namespace"], event["metadata"]["name"]) is None:
            self._api.create_internal(event_res, event, manager="kubelet")

    def _scale_down(self, rs: _Obj) -> None:
        pod_res = resources.by_kind("Pod")
        for pod in self._pods_of(rs):
            self._api.delete_internal(
                pod_res, pod["metadata"]["namespace"], pod["metadata"]["name"]
            )
        if rs["spec"].get("replicas") != 0 or rs.get("status", {}).get("replicas"):
            wanted = clone(rs)
            wanted["spec"]["replicas"] = 0
            wanted["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/desired-replicas"
            ] = "0"
            wanted["status"] = {
                "observedGeneration": rs["metadata"].get("generation", 1),
                "replicas": 0,
            }
            self._api.update_internal(resources.by_kind("ReplicaSet"), rs, wanted, manager=_MANAGER)

    def _write_rs_status(self, rs: _Obj, pods: list[_Obj]) -> None:
        rs = (
            self._api.store.get(
                resources.by_kind("ReplicaSet"), rs["metadata"]["namespace"], rs["metadata"]["name"]
            )
            or rs
        )
        ready = sum(1 for p in pods if _pod_ready(p))
        status: _Obj = {"replicas": len(pods), "fullyLabeledReplicas": len(pods)}
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        status["terminatingReplicas"] = 0
        status = {
            k: v
            for k, v in status.items()
            if v or k in ("observedGeneration", "replicas", "terminatingReplicas")
        }
        if rs.get("status") != status:
            wanted = clone(rs)
            wanted["status"] = status
            self._api.update_internal(
                resources.by_kind("ReplicaSet"), rs, wanted, manager=_MANAGER, subresource="status"
            )

    def _write_deployment_status(
        self,
        deployment: _Obj,
        rs: _Obj,
        progress: _Progress,
        *,
        desired: int,
        available: int,
        total: int,
        created: bool,
        deadline: bool,
    ) -> None:
        api = self._api
        now = api.now()
        rs_name = rs["metadata"]["name"]
        unavailable = max(desired - available, 0)
        status: _Obj = {"observedGeneration": deployment["metadata"].get("generation", 1)}
        for field, value in (
            ("replicas", total),
            ("updatedReplicas", desired),
            ("readyReplicas", available),
            ("availableReplicas", available),
            ("unavailableReplicas", unavailable),
        ):
            if value:  # zero counts are omitted in the apiserver's JSON (capture 33)
                status[field] = value
        status["terminatingReplicas"] = 0
        minimum = desired - _max_unavailable(deployment, desired)
        if available >= minimum:
            avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        if progress.completed:
            prog = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif deadline:
            prog = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        elif created:
            prog = ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        else:
            prog = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        old_conditions = {
            c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []
        }
        conditions = []
        for type_, (state, reason, message) in (("Available", avail), ("Progressing", prog)):
            old = old_conditions.get(type_)
            condition = {
                "type": type_,
                "status": state,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
            if old is not None:
                if (old["status"], old.get("reason"), old.get("message")) == (
                    state,
                    reason,
                    message,
                ):
                    condition["lastUpdateTime"] = old.get("lastUpdateTime", now)
                if old["status"] == state:
                    condition["lastTransitionTime"] = old.get("lastTransitionTime", now)
            conditions.append(condition)
        order = list(old_conditions)
        conditions.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))
        status["conditions"] = conditions
        wanted = clone(deployment)
        wanted["status"] = status
        wanted["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(
            _revision(rs)
        )
        api.update_internal(
            resources.by_kind("Deployment"),
            deployment,
            wanted,
            manager=_MANAGER,
            subresource="status",
        )


def _unresolvable(image: str) -> PodFailure | None:
    """What a kubelet reports for an image on a registry host that cannot exist (``.invalid``,
    RFC 2606): it never pulls, on any cluster."""
    host = image.split("/", 1)[0] if "/" in image else ""
    if not host.split(":")[0].endswith(".invalid"):
        return None
    return PodFailure("ImagePullBackOff", f'Back-off pulling image "{image}"')


def _images(deployment: _Obj) -> list[str]:
    pod = (deployment.get("spec") or {}).get("template", {}).get("spec") or {}
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    return [c.get("image", "") for c in containers]


def _revision(rs: _Obj) -> int:
    return int(
        (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)
    )


def _max_surge(deployment: _Obj, replicas: int) -> int:
    strategy = deployment["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return -(-replicas * int(value[:-1]) // 100)
    return int(value)


def _pod_ready(pod: _Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _failure_message(pod: _Obj, container: _Obj, failure: PodFailure) -> str:
    if failure.message:
        return failure.message
    name = container.get("name", "")
    if failure.reason in ("ImagePullBackOff", "ErrImagePull"):
        return f'Back-off pulling image "{container.get("image", "")}"'
    if failure.reason == "CrashLoopBackOff":
        meta = pod["metadata"]
        return (
            f"back-off 10s restarting failed container={name} "
            f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
        )
    return failure.reason


def _image_id(image: str) -> str:
    if "@" in image:
        return image
    repo = re.sub(r":[^/:]+$", "", image)
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _pod_status(pod: _Obj, old: _Obj, ready: bool, failure: PodFailure | None, now: str) -> _Obj:
    """Pod status as a kubelet would report it: Running and ready, waiting, or failing."""
    containers = pod["spec"].get("containers") or []
    names = ", ".join(c.get("name", "") for c in containers)
    crash = failure is not None and failure.reason == "CrashLoopBackOff"
    phase = "Running" if ready or crash else "Pending"
    old_conditions = {c["type"]: c for c in old.get("conditions") or []}

    def condition(type_: str, ok: bool) -> _Obj:
        previous = old_conditions.get(type_)
        state = "True" if ok else "False"
        out: _Obj = {
            "type": type_,
            "status": state,
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        if previous is not None and previous.get("status") == state:
            out["lastTransitionTime"] = previous.get("lastTransitionTime", now)
        if not ok:
            out["reason"] = "ContainersNotReady"
            out["message"] = f"containers with unready status: [{names}]"
        return out

    statuses = []
    old_statuses = {s.get("name"): s for s in old.get("containerStatuses") or []}
    for c in containers:
        image = c.get("image", "")
        previous = old_statuses.get(c.get("name"), {})
        entry: _Obj = {"name": c.get("name", "")}
        if ready:
            started = ((previous.get("state") or {}).get("running") or {}).get("startedAt", now)
            entry["state"] = {"running": {"startedAt": started}}
            entry["lastState"] = {}
        elif failure is not None:
            entry["state"] = {
                "waiting": {"reason": failure.reason, "message": _failure_message(pod, c, failure)}
            }
            last = previous.get("lastState") or {}
            if crash and "terminated" not in last:
                last = {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                }
            entry["lastState"] = last if crash else {}
        else:
            entry["state"] = {"waiting": {"reason": "ContainerCreating"}}
            entry["lastState"] = {}
        entry["ready"] = ready
        entry["restartCount"] = 3 if crash else 0
        entry["image"] = image
        entry["imageID"] = _image_id(image) if ready or crash else ""
        if ready or crash:
            entry["containerID"] = (
                "containerd://"
                + hashlib.sha256((pod["metadata"]["uid"] + c.get("name", "")).encode()).hexdigest()
            )
        entry["started"] = ready
        statuses.append(entry)
    octet = int(hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()[:4], 16) % 250 + 2
    status: _Obj = {
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", ready or failure is not None),
            condition("Initialized", True),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", True),
        ],
        "hostIP": "10.0.0.2",
        "hostIPs": [{"ip": "10.0.0.2"}],
        "podIP": f"10.244.0.{octet}",
        "podIPs": [{"ip": f"10.244.0.{octet}"}],
        "startTime": old.get("startTime", now),
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    }
    return status
