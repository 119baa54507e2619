"""Retry transient failures (network, registry or API overload) with capped backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cli.images.backends import Log, TransientError

T = TypeVar("T")


def quiet(line: str) -> None:
    """A ``Log`` that drops everything."""


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the delta-seconds form), if usable."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Retry:
    """Call again after a ``TransientError``: 0.5 s, 1 s, 2 s... at most ``max_delay``.

    A server's ``Retry-After`` (carried by the error) wins over the computed delay.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, operation: Callable[[], T], log: Log = quiet) -> T:
        attempt = 1
        while True:
            try:
                return operation()
            except TransientError as exc:
                if attempt >= self.attempts:
                    raise
                delay = min(exc.retry_after or self.base_delay * 2 ** (attempt - 1), self.max_delay)
                attempt += 1
                note = f"retrying in {delay:.1f} s (attempt {attempt}/{self.attempts})"
                log(f"{exc.summary()}\n{note}")
                self.sleep(delay)
