"""When the reconcile loop reached each step of a deployment: applied, rolling out, healthy,
failed (with the reason), stopped.

Like live status it is kept in memory only, never committed (SPEC §3), for the last few
deployments of each project: a server that restarted knows a deployment's steps from then
on. The status steps come from the loop's ``StatusFeed`` (one listener, called only when a
status changes); ``applied`` is noted by the loop when a sync wrote objects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reconciler.status import StatusChange, StatusFeed

Step = Literal["applied", "rolling_out", "healthy", "failed", "stopped"]

_STEP_OF_STATE: dict[str, Step] = {
    "deploying": "rolling_out",
    "running": "healthy",
    "failed": "failed",
    "stopped": "stopped",
}
_KEEP_DEPLOYMENTS = 10
_KEEP_STEPS = 30


@dataclass(frozen=True)
class Moment:
    step: Step
    at: datetime
    reason: str | None = None


class Timelines:
    """Thread-safe; bounded (``_KEEP_DEPLOYMENTS`` per project, ``_KEEP_STEPS`` each)."""

    def __init__(self, feed: StatusFeed | None = None):
        self._lock = threading.Lock()
        self._projects: dict[str, OrderedDict[str, list[Moment]]] = {}
        if feed is not None:
            feed.listen(self._heard)

    def note(
        self, project: str, deployment_id: str, step: Step, at: datetime, reason: str | None = None
    ) -> None:
        """Record ``step``: ``applied`` once per deployment; a status step when it differs
        from the last one recorded (a failure that recovers shows both)."""
        with self._lock:
            deployments = self._projects.setdefault(project, OrderedDict())
            moments = deployments.setdefault(deployment_id, [])
            deployments.move_to_end(deployment_id)
            while len(deployments) > _KEEP_DEPLOYMENTS:
                deployments.popitem(last=False)
            if step == "applied":
                if any(m.step == "applied" for m in moments):
                    return
            else:
                at_last = [i for i, m in enumerate(moments) if m.step != "applied"][-1:]
                if at_last and moments[at_last[0]].step == step:
                    # Still there (a retry's reason counts its next try): the first time stays.
                    moments[at_last[0]] = Moment(step, moments[at_last[0]].at, reason)
                    return
            moments.append(Moment(step, at, reason))
            del moments[:-_KEEP_STEPS]

    def of(self, project: str, deployment_id: str) -> list[Moment]:
        with self._lock:
            deployments = self._projects.get(project)
            return list(deployments.get(deployment_id, ())) if deployments else []

    def forget(self, project: str) -> None:
        with self._lock:
            self._projects.pop(project, None)

    def _heard(self, change: StatusChange) -> None:
        status = change.status
        if change.desired or status is None or status.deployment_id is None:
            return
        step = _STEP_OF_STATE.get(status.state)
        if step is not None:
            self.note(change.project, status.deployment_id, step, status.updated_at, status.reason)
