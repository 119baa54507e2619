"""Which container serves each project: shared by the ``docker`` runtime and the server's proxy.

The runtime is the only writer: it points a project at a new container once that one is
healthy (blue/green), and drops the route when the project stops. The proxy reads a route
and counts the request as in flight on that container for as long as it runs; the lookup and
the count happen under one lock, so once a route has moved and an address shows no request in
flight, no request can reach that address any more and its container may go.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Upstream:
    deployment_id: str
    address: str
    """``host:port`` the container listens on (host networking: always on this machine)."""


class Routes:
    def __init__(self) -> None:
        self._routes: dict[str, Upstream] = {}
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def get(self, project: str) -> Upstream | None:
        with self._lock:
            return self._routes.get(project)

    def switch(self, project: str, upstream: Upstream) -> None:
        with self._lock:
            self._routes[project] = upstream

    def drop(self, project: str) -> None:
        with self._lock:
            self._routes.pop(project, None)

    def in_flight(self, address: str) -> int:
        with self._lock:
            return self._in_flight[address]

    @contextmanager
    def use(self, project: str) -> Iterator[Upstream | None]:
        """The project's upstream, counted in flight until the block ends (None: no route)."""
        with self._lock:
            upstream = self._routes.get(project)
            if upstream is not None:
                self._in_flight[upstream.address] += 1
        try:
            yield upstream
        finally:
            if upstream is not None:
                with self._lock:
                    self._in_flight[upstream.address] -= 1
                    if self._in_flight[upstream.address] <= 0:
                        del self._in_flight[upstream.address]
