"""Deployment ids: ``20261122-153012-ab12`` — UTC time to the second, then random hex.

The time makes ids sort by creation and tell a person when a deploy happened; the random part
keeps ids unique when many deploys land in the same second. One generator per server
remembers the ids it issued in the current second, so its own ids never collide; ids from
different servers collide only if 16 random bits match within one second.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

_SHORT_HEX = 2  # bytes: four hex digits, as in the examples people read
_LONG_HEX = 4  # when a second is crowded, eight digits (the most the id grammar allows)
_CROWDED = 4096


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeploymentIds:
    """Issues unique deployment ids; safe to call from many threads."""

    def __init__(self, clock: Clock = _utcnow):
        self._clock = clock
        self._lock = threading.Lock()
        self._second = ""
        self._issued: set[str] = set()

    def new(self) -> str:
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
        with self._lock:
            if stamp != self._second:
                self._second, self._issued = stamp, set()
            size = _LONG_HEX if len(self._issued) >= _CROWDED else _SHORT_HEX
            while True:
                candidate = f"{stamp}-{secrets.token_hex(size)}"
                if candidate not in self._issued:
                    self._issued.add(candidate)
                    return candidate
