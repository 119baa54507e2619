"""A background thread that wakes when asked (or every so often) and stops cleanly.

The refresher and the pull-request reviewer are this loop around their own ``work``: a
burst of requests while one round runs is one more round, not one each.
"""

from __future__ import annotations

import threading


class Worker:
    def __init__(self, name: str, every: float | None = None):
        """``every``: also wake this many seconds after the last round, unasked."""
        self._every = every
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def wake(self) -> None:
        self._wanted.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Let the round in progress finish (up to ``timeout`` seconds), then stop."""
        self._stopping.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def work(self, asked: bool) -> None:
        """One round; ``asked`` is False when only the interval woke it."""
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            asked = self._wanted.wait(self._every)
            if self._stopping.is_set():
                return
            self._wanted.clear()
            self.work(asked)
