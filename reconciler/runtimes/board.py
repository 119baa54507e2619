"""Fresh health reads of unfinished rollouts, from a bounded number of requests per pass.

A rollout under way is looked at every couple of seconds. Read one by one (a GET of the
Deployment, a LIST of its pods), 1,000 projects whose pods are not ready (a full cluster, a
registry that is down) cost 2,000 requests a pass, and a one-project change rode along with
them. The board reads the first few one by one, as that is cheapest for a handful; from
then on it reads the installation's Deployments in one label-selected LIST and its pods in
another, once per pass, and answers every other project from those. ``reset`` (at the end
of every pass) makes everything stale again.

Reads of an object the pass itself just wrote never come from here: the caller GETs those,
so a one-project change costs that project's requests whatever the health of the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.health import pod_failure
from reconciler.runtimes.base import DEPLOYMENT_ID, ObjectRef
from reconciler.runtimes.rollout import LiveObject

Obj = dict[str, Any]
PodKey = tuple[str, str]
"""(namespace, deployment id)"""
# Reads answered one by one in a pass before the board lists everything instead.
SINGLE_READS = 3
_CONTAINER_STATUSES = ("containerStatuses", "initContainerStatuses")


class RolloutBoard:
    def __init__(
        self,
        *,
        get_one: Callable[[ObjectRef], LiveObject | None],
        pods_of: Callable[[str, str], list[Obj]],
        list_deployments: Callable[[], Iterable[LiveObject]],
        list_pods: Callable[[], Iterable[Obj]],
        single_reads: int = SINGLE_READS,
    ):
        self._get_one = get_one
        self._pods_of = pods_of
        self._list_deployments = list_deployments
        self._list_pods = list_pods
        self.single_reads = single_reads
        self._lock = threading.Lock()
        self._deployments_lock = threading.Lock()
        self._pods_lock = threading.Lock()
        self._singles = 0
        self._deployments: dict[ObjectRef, LiveObject] | None = None
        self._pods: dict[PodKey, list[Obj]] | None = None

    def reset(self) -> None:
        """A new pass: what was read is stale."""
        with self._lock:
            self._singles = 0
            self._deployments = None
            self._pods = None

    def seed(self, deployments: Iterable[LiveObject]) -> None:
        """Deployments a full pass's inventory just listed: as fresh as a LIST of them."""
        with self._lock:
            self._deployments = {live.ref: live for live in deployments}

    def deployment(self, ref: ObjectRef) -> LiveObject | None:
        with self._lock:
            listed = self._deployments
            single = listed is None and self._take_single()
        if listed is not None:
            return listed.get(ref)
        if single:
            return self._get_one(ref)
        with self._deployments_lock:  # one LIST, whichever worker comes first
            if self._deployments is None:
                fresh = {live.ref: live for live in self._list_deployments()}
                with self._lock:
                    self._deployments = fresh
            return self._deployments.get(ref)

    def pods(self, namespace: str, deployment_id: str) -> list[Obj]:
        """The pods of one deployment that say something about its health."""
        with self._lock:
            listed = self._pods
            single = listed is None and self._take_single()
        key = (namespace, deployment_id)
        if listed is not None:
            return listed.get(key, [])
        if single:
            return self._pods_of(namespace, deployment_id)
        with self._pods_lock:
            if self._pods is None:
                fresh = _by_deployment(self._list_pods())
                with self._lock:
                    self._pods = fresh
            return self._pods.get(key, [])

    def _take_single(self) -> bool:
        if self._singles >= self.single_reads:
            return False
        self._singles += 1
        return True


def _by_deployment(pods: Iterable[Obj]) -> dict[PodKey, list[Obj]]:
    """Failing pods by deployment, kept small: only their container statuses."""
    out: dict[PodKey, list[Obj]] = {}
    for pod in pods:
        if pod_failure([pod]) is None:
            continue
        meta = pod.get("metadata") or {}
        deployment_id = (meta.get("labels") or {}).get(DEPLOYMENT_ID)
        if not deployment_id:
            continue
        status = pod.get("status") or {}
        small = {k: status[k] for k in _CONTAINER_STATUSES if k in status}
        out.setdefault((meta.get("namespace", ""), deployment_id), []).append({"status": small})
    return out
