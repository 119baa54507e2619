"""What the server needs from the reconciler loop: a way to ask for a reconcile, and status.

The server never decides whether an app is running: it asks the ``Controller``. Live status is
never committed to git (SPEC §3); it is the controller's last result for each project.

The loop (``reconciler/loop.py``) implements ``Controller``; the server builds it in
``reconciler.server.context.build_controller``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class StatusChange:
    """One status the loop recorded, numbered in the order the feed saw them; or, with
    ``desired``, a change of the project's desired state (a deploy, a stop) and the loop's
    last word as it stood then (``status``), before it has looked at the change."""

    seq: int
    project: str
    status: ProjectStatus | None
    desired: bool = False


class StatusFeed:
    """The loop's status changes for whoever listens (the dashboard's event stream).

    Publishing appends to a short ring (so a reconnecting stream can replay what it missed)
    and calls the listeners; with no listener that is all it costs. Thread-safe: the loop
    publishes from its worker threads.
    """

    def __init__(self, keep: int = 1000):
        self._lock = threading.Lock()
        self._ring: deque[StatusChange] = deque(maxlen=keep)
        self._numbers = itertools.count(1)
        self._listeners: list[Callable[[StatusChange], None]] = []

    def publish(self, project: str, status: ProjectStatus | None, desired: bool = False) -> None:
        with self._lock:
            change = StatusChange(next(self._numbers), project, status, desired)
            self._ring.append(change)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(change)

    def since(self, seq: int) -> list[StatusChange] | None:
        """Changes after ``seq``, or None when some of them have already left the ring."""
        with self._lock:
            if not self._ring:
                return [] if seq == 0 else None
            first = self._ring[0].seq
            if seq < first - 1 or seq > self._ring[-1].seq:
                return None
            return [c for c in self._ring if c.seq > seq]

    def listen(self, listener: Callable[[StatusChange], None]) -> Callable[[], None]:
        """Call ``listener`` (from the publishing thread) for every change; returns the call
        that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop
