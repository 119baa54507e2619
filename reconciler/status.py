"""What the server needs from the reconciler loop: a way to ask for a reconcile, and status.

The server never decides whether an app is running: it asks the ``Controller``. Live status is
never committed to git (SPEC §3); it is the controller's last result for each project.

The loop (``reconciler/loop.py``) implements ``Controller``; the server builds it in
``reconciler.server.context.build_controller``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

StatusState = Literal["deploying", "running", "failed", "stopped", "unknown"]


@dataclass(frozen=True)
class ProjectStatus:
    """The reconciler's last word on one project."""

    state: StatusState
    reason: str | None
    """Why, for a person: ``ImagePullBackOff: registry.rise.dev/web@sha256:… not found``."""
    deployment_id: str | None
    """The deployment this status is about (the one serving, or the one rolling out)."""
    updated_at: datetime


class Controller(Protocol):
    """The reconciler loop as the server sees it."""

    def signal(self, reason: str, projects: set[str] | None = None) -> None:
        """Ask for a reconcile soon (``projects`` None: all). Never blocks."""

    def status(self, project: str) -> ProjectStatus | None:
        """The last status of ``project``, or None when the loop has not seen it yet."""

    def deployments(self, project: str) -> Mapping[str, ProjectStatus]:
        """The last status of each deployment of ``project`` the loop has seen, by id: the
        one rolling out, the one still serving beside it, and recent ones it stopped."""

    def start(self) -> None:
        """Start reconciling in the background."""

    def stop(self, timeout: float) -> None:
        """Let the in-flight reconcile finish (up to ``timeout`` seconds), then stop."""
