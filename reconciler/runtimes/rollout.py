"""What to do with one project's live Kubernetes objects: pure planning, no I/O.

- ``LiveObject``: the little rise keeps of a live object (identity, labels, hash, health).
- ``plan_rollout``: blue/green. The new deployment's Deployment is applied beside the one the
  Service selects; the Service (whose selector names the new deployment id) is held back until
  the new Deployment is available; then the old Deployment goes. Everything else that is no
  longer desired is pruned at once.
- ``contains``: whether a live object still holds every field rise applies, with the values
  rise applies (server-side apply's promise), which is how a resync sees hand edits that left
  rise's hash annotation alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.health import summarise_deployment
from reconciler.runtimes.base import (
    DEPLOYMENT_ID,
    PROJECT,
    SPEC_HASH,
    Desired,
    ObjectRef,
    kind_rank,
    shared,
)

Obj = dict[str, Any]
_EMPTY: tuple[Any, ...] = (None, "", {}, [])


@dataclass(slots=True)
class LiveObject:
    ref: ObjectRef
    uid: str
    resource_version: str
    project: str | None
    spec_hash: str | None
    deployment_id: str | None = None
    selects: str | None = None
    """A Service: the deployment id its selector names."""
    summary: Obj | None = None
    """A Deployment's replicas and status; an Ingress's status."""
    drifted: bool = False
    """Its hash matches, but a field rise applies was changed by someone else."""
    verified: bool = False
    """Found to hold what its desired twin holds (or it is what rise applied): at this
    resourceVersion it need not be compared again."""
    terminating: bool = False

    @classmethod
    def of(cls, obj: Obj, kind: str | None = None) -> LiveObject:
        """From an API object (list items carry no ``kind``: pass it)."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        ref = ObjectRef.of(obj, kind)
        summary: Obj | None = None
        selects = None
        if ref.kind == "Deployment":
            summary = summarise_deployment(obj)
        elif ref.kind == "Ingress":
            balancer = (obj.get("status") or {}).get("loadBalancer")
            summary = {"status": {"loadBalancer": balancer} if balancer else {}}
        elif ref.kind == "Service":
            selects = ((obj.get("spec") or {}).get("selector") or {}).get(DEPLOYMENT_ID)
        return cls(
            ref=ref,
            uid=str(meta.get("uid") or ""),
            resource_version=str(meta.get("resourceVersion") or ""),
            project=shared(labels.get(PROJECT)),
            spec_hash=shared((meta.get("annotations") or {}).get(SPEC_HASH)),
            deployment_id=shared(labels.get(DEPLOYMENT_ID)),
            selects=shared(selects),
            summary=summary,
            terminating=bool(meta.get("deletionTimestamp")),
        )

    def matches(self, desired: Desired) -> bool:
        """Nothing to apply: same content hash and nobody changed what rise applied."""
        return self.spec_hash == desired.spec_hash and not self.drifted and not self.terminating


@dataclass
class Plan:
    now: list[Desired] = field(default_factory=list)
    """Apply now, in dependency order."""
    held: list[Desired] = field(default_factory=list)
    """Apply once ``gate`` is available: the Service that moves traffic over."""
    gate: Desired | None = None
    """The desired Deployment (None: the project has no deployment)."""
    serving: str | None = None
    """The deployment id the live Service selects."""
    prune_now: list[LiveObject] = field(default_factory=list)
    prune_after: list[LiveObject] = field(default_factory=list)
    """The serving deployment's Deployment: pruned once the Service has switched."""


def plan_rollout(desired: Sequence[Desired], live: Mapping[ObjectRef, LiveObject]) -> Plan:
    plan = Plan()
    plan.gate = next((d for d in desired if d.ref.kind == "Deployment"), None)
    service = next((d for d in desired if d.ref.kind == "Service"), None)
    live_service = live.get(service.ref) if service is not None else None
    plan.serving = live_service.selects if live_service is not None else None
    serving = [
        obj
        for obj in live.values()
        if obj.ref.kind == "Deployment"
        and plan.serving is not None
        and obj.deployment_id == plan.serving
        and not obj.terminating
        and (plan.gate is None or obj.ref != plan.gate.ref)
    ]
    switching = (
        plan.gate is not None
        and service is not None
        and bool(serving)
        and service.selects != plan.serving
    )
    if switching:
        plan.held = [d for d in desired if d is service]
        plan.prune_after = serving
    plan.now = [d for d in desired if d is not service or not switching]
    wanted = {d.ref for d in desired}
    keep = {obj.ref for obj in plan.prune_after}
    doomed = [obj for obj in live.values() if obj.ref not in wanted and obj.ref not in keep]
    plan.prune_now = sorted(doomed, key=prune_order)
    return plan


def prune_order(obj: LiveObject) -> tuple[int, ObjectRef]:
    """Reverse dependency order: NetworkPolicy first, the Namespace last."""
    return (-kind_rank(obj.ref.kind), obj.ref)


def contains(live: Any, want: Any) -> bool:
    """Whether ``live`` holds every field of ``want`` with ``want``'s value.

    Lists whose items all have a ``name`` (containers, env, ports, volumes) are matched by
    name, as server-side apply merges them; other lists must match item for item. An empty
    or null value in ``want`` also matches a missing field (the API server omits them).
    """
    if isinstance(want, dict):
        if not isinstance(live, dict):
            return False
        return all(
            contains(live[key], value) if key in live else value in _EMPTY
            for key, value in want.items()
        )
    if isinstance(want, list):
        if not isinstance(live, list):
            return False
        if want and _named(want) and _named(live):
            by_name = {item["name"]: item for item in live}
            return all(
                item["name"] in by_name and contains(by_name[item["name"]], item) for item in want
            )
        return len(live) == len(want) and all(
            contains(a, b) for a, b in zip(live, want, strict=True)
        )
    return bool(live == want)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)
