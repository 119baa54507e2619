"""Fault injection: make the next N matching requests fail the way real clusters fail.

- `Fault.error()`: an HTTP error with a `Status` body (500 InternalError by default; any code).
- `Fault.throttle()`: 429 TooManyRequests with `Retry-After` (API priority and fairness).
- `Fault.delay(seconds)`: answer only after `seconds` (longer than the client's timeout makes a
  read timeout). The request is then processed normally, so a delayed write still lands, as
  it may on a real apiserver when the client gave up waiting.
- `Fault.drop()`: close the connection without answering.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["error", "throttle", "delay", "drop"]


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None  # exact HTTP method, any if None
    path: str | None = None  # regex searched in the request path (no query), any if None
    times: int = 1  # how many matching requests it affects
    status: int = 500  # for "error"
    message: str = "injected fault"  # for "error"
    seconds: float = 5.0  # for "delay"
    retry_after: int = 1  # for "throttle"
    hits: int = field(default=0, init=False)

    @classmethod
    def error(
        cls,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        message: str = "injected fault",
    ) -> Fault:
        return cls("error", method, path, times, status=status, message=message)

    @classmethod
    def throttle(
        cls,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        retry_after: int = 1,
    ) -> Fault:
        return cls("throttle", method, path, times, status=429, retry_after=retry_after)

    @classmethod
    def delay(
        cls, seconds: float, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> Fault:
        return cls("delay", method, path, times, seconds=seconds)

    @classmethod
    def drop(cls, *, method: str | None = None, path: str | None = None, times: int = 1) -> Fault:
        return cls("drop", method, path, times)

    @property
    def remaining(self) -> int:
        return max(self.times - self.hits, 0)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.path and not re.search(self.path, path))


class FaultPlan:
    """Armed faults, consumed in the order they were injected."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining and fault.matches(method, path):
                    fault.hits += 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining]
        return None
