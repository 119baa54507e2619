"""The Kubernetes runtime: server-side apply, prune, health and blue/green (SPEC §5).

Each step stands alone and is tested alone:

- ``inventory``: one paginated LIST per kind of everything labelled managed-by=rise and with
  this installation's ``rise.dev/installation`` (``installation``), across all namespaces,
  kept as small ``LiveObject`` records indexed by project. Other installations' objects on
  the same cluster are never seen, so never compared or pruned. An object whose
  hash matches its desired twin is compared field by field as it streams by (``contains``),
  unless it is the very version rise last applied or checked.
- ``apply``: server-side apply (field manager ``rise``, ``force``) in dependency order,
  skipping objects whose ``rise.dev/spec-hash`` and content are unchanged.
- ``prune``: deletes, in reverse dependency order, only objects the inventory found with
  rise's label, each with a uid precondition; a namespace is deleted only when it holds
  nothing but this installation's objects and what the cluster injects (``injected``).
- ``observe``/``pods``: fresh reads for health, only while a rollout is under way; beyond a
  few a pass they come from one LIST of Deployments and one of Pods (``board``).

``sync`` composes them with the blue/green plan of ``rollout.plan_rollout``. It never waits
for a rollout: it reports ``settled=False`` and the loop looks again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.health import (
    DeploymentHealth,
    ProjectHealth,
    assess_deployment,
    ingress_note,
    project_health,
)
from reconciler.runtimes.base import (
    DEPLOYMENT_ID,
    MANAGED_BY,
    PROJECT,
    Desired,
    NotLeader,
    ObjectRef,
    SyncError,
    SyncResult,
    kind_rank,
)
from reconciler.runtimes.board import RolloutBoard
from reconciler.runtimes.injected import injected
from reconciler.runtimes.installation import (
    INSTALLATION,
    check_installation,
    stamped,
    unstamped,
)
from reconciler.runtimes.kubeapi import KubeApi, KubeError, kind
from reconciler.runtimes.rollout import LiveObject, Plan, contains, plan_rollout, prune_order
from reconciler.secrets import MASK

log = logging.getLogger("rise.reconciler")

ProjectLive = dict[ObjectRef, LiveObject]
MANAGER = "rise"
RISE_SELECTOR = f"{MANAGED_BY}=rise"
# What the templates make; kinds an operator's templates add are listed once rendered.
DEFAULT_KINDS = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "Deployment",
    "Service",
    "Ingress",
    "NetworkPolicy",
)
# Kinds looked at before a namespace is deleted: anything in them rise does not own keeps it.
_FOREIGN_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "Service",
    "Ingress",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "NetworkPolicy",
)
_LIST_THREADS = 4
# How kube-apiserver names a field an apply patch has but the schema does not (capture 31).
_UNDECLARED = re.compile(r"(\.[^\s:]+): field not declared in schema")


@dataclass
class _Tally:
    applied: int = 0
    unchanged: int = 0
    pruned: int = 0
    touched: set[ObjectRef] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


class KubernetesRuntime:
    name = "kubernetes"
    needs_secrets = True

    def __init__(
        self,
        api: KubeApi,
        *,
        installation: str,
        page_size: int = 500,
        can_write: Callable[[], bool] | None = None,
    ):
        """``installation``: the identity on every object (``installation.py``);
        ``can_write`` is asked before every write (leader election: only the holder)."""
        self.api = api
        self.installation = check_installation(installation)
        self.selector = f"{RISE_SELECTOR},{INSTALLATION}={installation}"
        self.page_size = page_size
        self._can_write = can_write or (lambda: True)
        self._kinds = set(DEFAULT_KINDS)
        # uid -> the record last made of that object: an object listed again at the same
        # resourceVersion is the same object, so its record (and whether it was found to
        # match its desired twin) is reused, not rebuilt.
        self._records: dict[str, LiveObject] = {}
        self._lock = threading.Lock()
        self.board = RolloutBoard(
            get_one=self.observe,
            pods_of=self.pods,
            list_deployments=self._list_deployments,
            list_pods=self._list_pods,
        )

    @property
    def kinds(self) -> list[str]:
        """The kinds the inventory lists, in apply order."""
        with self._lock:
            return sorted(self._kinds, key=kind_rank)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests this runtime sent, by verb (client-side: true on any cluster)."""
        return self.api.counts

    # -- 1. inventory ------------------------------------------------------------------------

    def inventory(self, desired: Mapping[ObjectRef, Desired]) -> dict[str, ProjectLive]:
        """Everything live of this installation, by project; one paginated LIST per kind.

        Kinds are listed side by side, so decoding one page overlaps the API server
        encoding the next.
        """
        kinds = sorted(self._kinds | {ref.kind for ref in desired}, key=kind_rank)
        with self._lock:
            self._kinds = set(kinds)
        with ThreadPoolExecutor(min(len(kinds), _LIST_THREADS), "rise-list") as pool:
            listed = list(pool.map(lambda name: self._list_kind(name, desired), kinds))
        out: dict[str, ProjectLive] = {}
        unowned = 0
        with self._lock:  # forget objects that are gone
            self._records = {live.uid: live for objects in listed for live in objects}
        self.board.seed(o for objects in listed for o in objects if o.ref.kind == "Deployment")
        for objects in listed:
            for live in objects:
                if live.project is None:
                    unowned += 1  # not attributable to a project: never pruned
                else:
                    out.setdefault(live.project, {})[live.ref] = live
        if unowned:
            log.warning(
                "%d objects carry %s but no %s label; left alone", unowned, self.selector, PROJECT
            )
        return out

    def _list_kind(self, name: str, desired: Mapping[ObjectRef, Desired]) -> list[LiveObject]:
        where = kind(name)
        out = []
        try:
            for item in self.api.list(
                where.collection(), label_selector=self.selector, limit=self.page_size
            ):
                # List items carry no kind or apiVersion (capture 24); desired ones do.
                item["kind"], item["apiVersion"] = name, where.api_version
                live = self._record_of(item, name)
                twin = desired.get(live.ref)
                live.drifted = (
                    twin is not None
                    and twin.spec_hash == live.spec_hash
                    and self._drifted(live, item, twin)
                )
                out.append(live)
        except KubeError as exc:
            raise _sync_error(exc, f"listing {name} objects") from None
        return out

    def _record_of(self, item: dict[str, Any], name: str) -> LiveObject:
        meta = item["metadata"]
        known = self._records.get(meta.get("uid", ""))
        if known is not None and known.resource_version == meta.get("resourceVersion"):
            return known
        return LiveObject.of(item, name)

    def _drifted(self, live: LiveObject, item: dict[str, Any], twin: Desired) -> bool:
        if live.verified:
            return False
        drifted = not contains(item, twin.obj())
        if not drifted:
            self._remember(live)
        return drifted

    def _remember(self, live: LiveObject) -> None:
        live.verified = True
        with self._lock:
            self._records[live.uid] = live

    # -- 2. apply ----------------------------------------------------------------------------

    def apply(self, objects: Sequence[Desired], live: ProjectLive, tally: _Tally) -> None:
        """Server-side apply of what differs from ``live`` (updated in place), in order."""
        for desired in objects:
            current = live.get(desired.ref)
            if current is not None and current.matches(desired):
                tally.unchanged += 1
                continue
            self._guard()
            path = kind(desired.ref.kind).path(desired.ref.name, desired.ref.namespace)
            try:
                obj = self.api.apply(path, stamped(desired, self.installation), manager=MANAGER)
            except KubeError as exc:
                raise _sync_error(exc, f"applying {desired.ref}", desired) from None
            applied = LiveObject.of(obj, desired.ref.kind)
            live[desired.ref] = applied
            self._remember(applied)
            tally.applied += 1
            tally.touched.add(desired.ref)

    # -- 3. prune ----------------------------------------------------------------------------

    def prune(self, doomed: Iterable[LiveObject], live: ProjectLive, tally: _Tally) -> None:
        """Delete ``doomed`` (objects found with rise's label), the namespace last."""
        for obj in sorted(doomed, key=prune_order):
            if obj.ref.kind == "Namespace":
                self._prune_namespace(obj, live, tally)
            elif not obj.terminating:
                self._delete(obj, live, tally)

    def _prune_namespace(self, ns: LiveObject, live: ProjectLive, tally: _Tally) -> bool:
        """Delete a namespace rise made, unless it holds objects rise does not own. Its rise
        objects go with it (the namespace controller removes them); False when it was kept."""
        if ns.terminating:
            live.pop(ns.ref, None)
        else:
            foreign = self.foreign_objects(ns.ref.name)
            if foreign:
                more = " and more" if len(foreign) > 3 else ""
                tally.notes.append(
                    f"kept namespace {ns.ref.name}: it holds {', '.join(foreign[:3])}{more}, "
                    "which rise does not manage"
                )
                return False
            self._delete(ns, live, tally)
        inside = [o for o in live.values() if o.ref.namespace == ns.ref.name]
        for obj in inside:
            live.pop(obj.ref)
        tally.pruned += 0 if ns.terminating else len(inside)
        return True

    def _delete(self, obj: LiveObject, live: ProjectLive, tally: _Tally) -> None:
        self._guard()
        path = kind(obj.ref.kind).path(obj.ref.name, obj.ref.namespace)
        try:
            self.api.delete(path, uid=obj.uid or None)
        except KubeError as exc:
            if exc.status != 409:  # 409: the uid precondition failed, someone else's object
                raise _sync_error(exc, f"deleting {obj.ref}") from None
            tally.notes.append(f"left {obj.ref} alone: it was replaced by someone else")
        live.pop(obj.ref, None)
        with self._lock:
            self._records.pop(obj.uid, None)
        tally.pruned += 1

    def foreign_objects(self, namespace: str) -> list[str]:
        """Objects in ``namespace`` that this installation does not own and the cluster did
        not inject: another installation's count too."""
        found: list[str] = []
        for name in _FOREIGN_KINDS:
            path = kind(name).collection(namespace)
            mine = f"{INSTALLATION}!={self.installation}"
            try:
                items = list(self.api.list(path, label_selector=mine, limit=50))
            except KubeError as exc:
                if exc.status == 404:  # the cluster does not serve this kind
                    continue
                raise _sync_error(exc, f"looking into namespace {namespace}") from None
            found += [f"{name} {i['metadata']['name']}" for i in items if not injected(name, i)]
        return found

    # -- 4. health ---------------------------------------------------------------------------

    def observe(self, ref: ObjectRef) -> LiveObject | None:
        """A fresh read of one object."""
        obj = self._read(ref)
        return LiveObject.of(obj, ref.kind) if obj is not None else None

    def _read(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return self.api.get(kind(ref.kind).path(ref.name, ref.namespace))
        except KubeError as exc:
            raise _sync_error(exc, f"reading {ref}") from None

    def read_live(self, objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fresh reads of the live twins of ``objects`` (those that exist), in that order,
        without this runtime's installation label: what a review's or a deploy's dry-run diff
        compares with a render. Reads only, so any replica may."""
        out: list[dict[str, Any]] = []
        for ref in dict.fromkeys(ObjectRef.of(obj) for obj in objects):
            found = self._read(ref)
            if found is not None:
                out.append(unstamped({"kind": ref.kind, **found}))
        return out

    def pods(self, namespace: str, deployment_id: str) -> list[dict[str, Any]]:
        """The pods of one deployment of this installation."""
        selector = f"{INSTALLATION}={self.installation},{DEPLOYMENT_ID}={deployment_id}"
        try:
            return list(
                self.api.list(kind("Pod").collection(namespace), label_selector=selector, limit=50)
            )
        except KubeError as exc:
            raise _sync_error(exc, f"listing the pods of {deployment_id}") from None

    def _list_deployments(self) -> list[LiveObject]:
        try:
            items = self.api.list(
                kind("Deployment").collection(), label_selector=self.selector, limit=self.page_size
            )
            return [LiveObject.of(item, "Deployment") for item in items]
        except KubeError as exc:
            raise _sync_error(exc, "listing Deployments") from None

    def _list_pods(self) -> list[dict[str, Any]]:
        selector = f"{INSTALLATION}={self.installation}"
        where = kind("Pod").collection()
        try:
            return list(self.api.list(where, label_selector=selector, limit=self.page_size))
        except KubeError as exc:
            raise _sync_error(exc, "listing pods") from None

    def deployment_health(
        self, gate: Desired, live: ProjectLive, *, trust_cache: bool, touched: bool = False
    ) -> DeploymentHealth:
        """Health of the desired Deployment; read again unless the record is current. What
        this pass wrote is read on its own, the rest through the board."""
        current = live.get(gate.ref)
        known = trust_cache or (
            current is not None and assess_deployment(current.summary).available
        )
        if current is None or not known:
            current = self.observe(gate.ref) if touched else self.board.deployment(gate.ref)
            if current is not None:
                live[gate.ref] = current
        health = assess_deployment(current.summary if current else None)
        if _pods_tell(health, current) and gate.deployment_id and current is not None:
            where, which = gate.ref.namespace, gate.deployment_id
            pods = self.pods(where, which) if touched else self.board.pods(where, which)
            health = assess_deployment(current.summary, pods)
        return health

    # -- composed ----------------------------------------------------------------------------

    def sync(
        self, project: str, desired: Sequence[Desired], live: ProjectLive | None, *, fresh: bool
    ) -> SyncResult[ProjectLive]:
        objects: ProjectLive = dict(live or {})
        tally = _Tally()
        plan = plan_rollout(desired, objects)
        try:
            self.apply(plan.now, objects, tally)
            new = None
            if plan.gate is not None:
                touched = plan.gate.ref in tally.touched
                new = self.deployment_health(
                    plan.gate, objects, trust_cache=fresh and not touched, touched=touched
                )
            switched = not plan.held
            if plan.held and new is not None and new.available:
                self.apply(plan.held, objects, tally)
                self.prune(plan.prune_after, objects, tally)
                switched = True
            self.prune(plan.prune_now, objects, tally)
        except SyncError as exc:
            health = ProjectHealth(
                "failed", exc.message, plan.gate.deployment_id if plan.gate else None
            )
            return _result(objects, health, tally, error=exc, settled=False)
        health = self._project_health(plan, new, objects, switched)
        settled = switched and health.state in ("running", "stopped")
        return _result(objects, health, tally, settled=settled)

    def _project_health(
        self, plan: Plan, new: DeploymentHealth | None, live: ProjectLive, switched: bool
    ) -> ProjectHealth:
        gate = plan.gate
        serving_id = None if switched else plan.serving
        serving = None
        if serving_id is not None:
            old = [o for o in plan.prune_after if o.deployment_id == serving_id]
            serving = assess_deployment(old[0].summary) if old else None
        ingress = next((o for o in live.values() if o.ref.kind == "Ingress"), None)
        note = ingress_note(ingress.summary) if ingress is not None else None
        return project_health(gate.deployment_id if gate else None, new, serving_id, serving, note)

    def remove(self, project: str, live: ProjectLive) -> SyncResult[ProjectLive]:
        """Prune every object of a project that left git; its namespace in one delete when
        nothing foreign is in it (the namespace controller removes the rest)."""
        objects = dict(live)
        tally = _Tally()
        kept: list[LiveObject] = []
        try:
            for ns in [o for o in objects.values() if o.ref.kind == "Namespace"]:
                if not self._prune_namespace(ns, objects, tally):
                    kept.append(objects.pop(ns.ref))
            self.prune(list(objects.values()), objects, tally)
        except SyncError as exc:
            objects.update((ns.ref, ns) for ns in kept)
            return _result(
                objects, ProjectHealth("failed", exc.message), tally, error=exc, settled=False
            )
        objects.update((ns.ref, ns) for ns in kept)
        return _result(
            objects, ProjectHealth("stopped", "removed from the state repository"), tally
        )

    def finish_pass(self) -> None:
        """Every apply and delete is durable when it returns; health read in this pass is
        stale for the next."""
        self.board.reset()

    def _guard(self) -> None:
        if not self._can_write():
            raise NotLeader()


def _result(
    live: ProjectLive,
    health: ProjectHealth,
    tally: _Tally,
    *,
    error: SyncError | None = None,
    settled: bool = True,
) -> SyncResult[ProjectLive]:
    return SyncResult(
        live=live,
        health=health,
        applied=tally.applied,
        unchanged=tally.unchanged,
        pruned=tally.pruned,
        error=error,
        settled=settled,
        notes=tally.notes,
    )


def _pods_tell(health: DeploymentHealth, current: LiveObject | None) -> bool:
    """Whether the pods may say why a rollout is not done: not before the controller has
    seen the newest spec (the pods are then the old template's, if any), which is the case
    of every Deployment just created; a LIST then would be a wasted request per project."""
    if health.state != "deploying" or current is None or current.summary is None:
        return False
    status = current.summary.get("status") or {}
    return int(status.get("observedGeneration") or 0) >= int(current.summary.get("generation") or 0)


def _sync_error(exc: KubeError, doing: str, desired: Desired | None = None) -> SyncError:
    status = f"HTTP {exc.status}" if exc.status else "no answer"
    message = f"{doing}: {status}: {exc.message}"
    undeclared = _UNDECLARED.findall(exc.message)
    if undeclared and desired is not None:
        fields = ", ".join(undeclared)
        message = (
            f"{doing}: the API server's {desired.ref.kind} schema has no field {fields} "
            f"({status}: {exc.message})"
        )
    if desired is not None and desired.ref.kind == "Secret":
        message = _redact(message, desired)
    if not exc.transient:
        message += " (the API server rejects it as rendered; fix the project or the templates)"
    return SyncError(
        message,
        transient=exc.transient,
        retry_after=exc.retry_after,
        ref=desired.ref if desired is not None else None,
    )


def _redact(message: str, secret: Desired) -> str:
    """An API error about a Secret may quote its values; none reaches a log or status."""
    import base64

    for value in (secret.obj().get("data") or {}).values():
        if not isinstance(value, str) or not value:
            continue
        message = message.replace(value, MASK)
        try:
            plain = base64.b64decode(value).decode()
        except ValueError:
            continue
        if len(plain) >= 4:
            message = message.replace(plain, MASK)
    return message
