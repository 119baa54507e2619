"""Bounds on password checking, which is slow and memory-hungry on purpose.

One scrypt check costs ~16 MiB and tens of milliseconds, so an anonymous flood of logins (or
HTTP Basic requests) must not run them all at once. ``PasswordGate`` admits a check only
when the client's token bucket has a token (``RateLimiter``: before any hashing), then runs
at most ``concurrency`` checks at a time; waiters cost nothing but a coroutine, and past
``max_waiting`` of them a request is told to come back later. Lockouts are per (client,
user name) in ``UserStore``, so no client can lock a user out for everyone else.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
Clock = Callable[[], float]


class Throttled(Exception):
    """Not now: ``retry_after`` seconds, and why."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """A token bucket per key (``burst`` tokens, ``per_second`` back); oldest keys dropped."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = 100_000,
    ):
        self._rate = per_second
        self._burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when admitted (one token taken), else the seconds until a token is back."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - then) * self._rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self._rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait


class PasswordGate:
    def __init__(self, limiter: RateLimiter, concurrency: int = 2, max_waiting: int = 64):
        self._limiter = limiter
        self._concurrency = concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._waiting = 0
        self._max_waiting = max_waiting

    async def run(self, client: str, check: Callable[..., T], *args: object) -> T:
        """``check(*args)`` in a worker thread, once ``client`` is admitted and a slot is free."""
        wait = self._limiter.take(client)
        if wait:
            raise Throttled("too many password attempts from this client", math.ceil(wait))
        if self._waiting >= self._max_waiting:
            raise Throttled("too many password checks are waiting; the server is busy", 1)
        if self._semaphore is None:  # created on the event loop that uses it
            self._semaphore = asyncio.Semaphore(self._concurrency)
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        try:
            return await run_in_threadpool(check, *args)
        finally:
            self._semaphore.release()
