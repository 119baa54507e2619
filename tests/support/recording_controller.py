"""A controller that records what it is asked to reconcile, for tests of the server's side."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from reconciler.status import ProjectStatus


@dataclass(frozen=True)
class Signal:
    reason: str
    projects: frozenset[str] | None


class RecordingController:
    """Records what it was asked to reconcile and reconciles nothing; knows no status."""

    def __init__(self, keep: int = 1000):
        self._lock = threading.Lock()
        self._signals: deque[Signal] = deque(maxlen=keep)
        self.running = False

    def signal(self, reason: str, projects: set[str] | None = None) -> None:
        with self._lock:
            wanted = frozenset(projects) if projects is not None else None
            self._signals.append(Signal(reason, wanted))

    @property
    def signals(self) -> list[Signal]:
        with self._lock:
            return list(self._signals)

    def status(self, project: str) -> ProjectStatus | None:
        return None

    def deployments(self, project: str) -> dict[str, ProjectStatus]:
        return {}

    def start(self) -> None:
        self.running = True

    def stop(self, timeout: float) -> None:
        self.running = False
