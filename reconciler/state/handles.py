"""A pool of libgit2 handles on one repository, leased per call.

A libgit2 handle must not be used by two threads at once, and each one keeps its own object
cache, so a handle per worker thread (a server has dozens) multiplies memory. ``HandlePool``
keeps at most ``MAX_HANDLES``; a thread leases one for the duration of a call, waiting when
all are out, and a thread that already holds one reuses it, so calls may nest.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

import pygit2

MAX_HANDLES = 4
# Each handle's object cache may otherwise grow to 256 MiB: the pool then holds at most
# MAX_HANDLES x this of parsed objects.
pygit2.settings.cache_max_size(32 << 20)

_Lease = tuple[int, pygit2.Repository]


class HandlePool:
    def __init__(self, path: str, first: pygit2.Repository):
        self._path = path
        self._local = threading.local()
        self._free: queue.LifoQueue[_Lease] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._opened = 1
        self._generation = 0
        self._free.put((0, first))

    @property
    def opened(self) -> int:
        """How many handles exist (never more than ``MAX_HANDLES``)."""
        return self._opened

    def current(self) -> pygit2.Repository | None:
        """The handle this thread has leased, if any."""
        lease = getattr(self._local, "lease", None)
        return lease[1] if lease is not None else None

    @contextlib.contextmanager
    def lease(self) -> Iterator[pygit2.Repository]:
        held = getattr(self._local, "lease", None)
        if held is not None:
            yield held[1]
            return
        lease = self._take()
        self._local.lease = lease
        try:
            yield lease[1]
        finally:
            self._local.lease = None
            self._give_back(lease)

    def renew(self) -> None:
        """Reopen every handle as it comes back (after a repack, old ones must rescan)."""
        with self._lock:
            self._generation += 1

    def _take(self) -> _Lease:
        with self._lock:
            if self._free.empty() and self._opened < MAX_HANDLES:
                self._opened += 1
                return self._generation, pygit2.Repository(self._path)
        return self._free.get()

    def _give_back(self, lease: _Lease) -> None:
        with self._lock:
            if lease[0] != self._generation:
                lease = (self._generation, pygit2.Repository(self._path))
        self._free.put(lease)
