"""What every runtime offers the reconcile loop (SPEC §5), and the records they trade.

A runtime is where rendered objects become real: a Kubernetes cluster, or a branch of the
state repository that Argo CD or Flux deploys. The loop drives it in three calls:

- ``inventory(desired)``: everything live that rise manages, by project, read in one
  paginated LIST per kind. Each live object is compared with its desired twin as it streams
  by, so a full resync keeps no page in memory and knows what drifted.
- ``sync(project, desired, live)``: make one project's live objects match ``desired``: apply
  what changed, prune what is no longer wanted, and say how healthy the result is.
- ``remove(project, live)``: a project that left git; prune everything it had.

``finish_pass()`` closes a pass (the ``rendered`` runtime commits there). A runtime's live
state of one project (``L``) is its own business; the loop only keeps it between passes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from reconciler.health import ProjectHealth
from reconciler.render.context import DEPLOYMENT_ID, MANAGED_BY, PROJECT
from reconciler.render.engine import KIND_ORDER, SPEC_HASH

Obj = dict[str, Any]
L = TypeVar("L")

__all__ = [
    "DEPLOYMENT_ID",
    "MANAGED_BY",
    "PROJECT",
    "SPEC_HASH",
    "Desired",
    "DesiredIndex",
    "NotLeader",
    "ObjectRef",
    "Runtime",
    "SyncError",
    "SyncResult",
    "kind_rank",
    "shared",
]


def shared(value: Any) -> str | None:
    """One copy of a string that many records repeat (namespaces, names, hashes, ids): at
    10,000 projects the copies decoded from each LIST page were a third of the memory."""
    return sys.intern(value) if isinstance(value, str) else None


def kind_rank(kind: str) -> int:
    """Position of ``kind`` in the dependency order of an apply (prunes go the other way)."""
    return KIND_ORDER.get(kind, len(KIND_ORDER))


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """Which object: kind, namespace ("" for cluster-wide objects) and name."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any], kind: str | None = None) -> ObjectRef:
        """Of an API object (list items carry no ``kind``: pass it)."""
        meta = obj.get("metadata") or {}
        return cls(
            shared(kind or str(obj.get("kind", ""))) or "",
            shared(meta.get("namespace")) or "",
            shared(str(meta.get("name"))) or "",
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Desired:
    """One rendered object, held as compact JSON.

    10,000 projects' objects as Python dicts would take most of the controller's memory
    budget; as JSON they take a tenth. The fields a plan needs are read out once.
    """

    __slots__ = ("_raw", "deployment_id", "ref", "selects", "spec_hash")

    def __init__(self, obj: Obj):
        meta = obj.get("metadata") or {}
        self.ref = ObjectRef.of(obj)
        self.spec_hash = shared((meta.get("annotations") or {}).get(SPEC_HASH))
        self.deployment_id = shared((meta.get("labels") or {}).get(DEPLOYMENT_ID))
        self.selects = shared(_selects(obj))
        self._raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def obj(self) -> Obj:
        """A fresh copy of the object (callers may change it)."""
        out: Obj = json.loads(self._raw)
        return out

    @property
    def raw(self) -> bytes:
        return self._raw

    def __repr__(self) -> str:
        return f"Desired({self.ref}, hash={self.spec_hash})"


def _selects(obj: Obj) -> str | None:
    """The deployment id a Service sends traffic to (its selector), else None."""
    if obj.get("kind") != "Service":
        return None
    selector = (obj.get("spec") or {}).get("selector") or {}
    value = selector.get(DEPLOYMENT_ID)
    return value if isinstance(value, str) else None


class DesiredIndex(Mapping[ObjectRef, Desired]):
    """Every desired object of a pass by reference, for comparing live objects as they stream."""

    def __init__(self, projects: Iterable[Sequence[Desired]] = ()):
        self._by_ref: dict[ObjectRef, Desired] = {}
        for objects in projects:
            for desired in objects:
                self._by_ref[desired.ref] = desired

    def __getitem__(self, ref: ObjectRef) -> Desired:
        return self._by_ref[ref]

    def get(self, ref: ObjectRef, default: Desired | None = None) -> Desired | None:  # type: ignore[override]
        return self._by_ref.get(ref, default)  # called once per live object: skip the ABC

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self._by_ref)

    def __len__(self) -> int:
        return len(self._by_ref)

    @property
    def kinds(self) -> set[str]:
        return {ref.kind for ref in self._by_ref}


class SyncError(Exception):
    """Why a project could not be synced, and whether trying again later may help.

    ``transient``: throttling, server errors, timeouts, a namespace still terminating. Others
    (an object the API server rejects) are permanent until the desired state changes.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        ref: ObjectRef | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after
        self.ref = ref


class NotLeader(SyncError):
    """This replica lost its lease: another one reconciles now, so this one must not write."""

    def __init__(self) -> None:
        super().__init__(
            "this reconciler does not hold the lease; another replica writes", transient=True
        )


@dataclass
class SyncResult(Generic[L]):
    """What one ``sync``/``remove`` did to a project, and the project's live state after it."""

    live: L | None
    health: ProjectHealth
    applied: int = 0
    unchanged: int = 0
    pruned: int = 0
    error: SyncError | None = None
    settled: bool = True
    """False while a rollout is under way (or failing): the loop looks again soon."""
    notes: list[str] = field(default_factory=list)
    """Things an operator should know that are not errors (a namespace kept, say)."""


class Runtime(Protocol[L]):
    """A place where desired objects are made real. See the module docstring."""

    name: str
    needs_secrets: bool
    """Whether it receives decrypted secret values (never a runtime that writes to git)."""

    def inventory(self, desired: Mapping[ObjectRef, Desired]) -> dict[str, L]: ...

    def sync(
        self, project: str, desired: Sequence[Desired], live: L | None, *, fresh: bool
    ) -> SyncResult[L]:
        """``fresh``: ``live`` was read in this pass (not carried over from an earlier one)."""
        ...

    def remove(self, project: str, live: L) -> SyncResult[L]: ...

    def finish_pass(self) -> None:
        """Make the pass's work durable; raises SyncError when that failed (nothing was)."""
        ...
