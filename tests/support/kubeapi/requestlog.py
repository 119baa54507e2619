"""Every request the double answered (or refused to), for tests that count what a client did."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    status: int | None  # None: the connection was dropped without an answer
    timestamp: float
    body: bytes = b""
    fault: str | None = None  # the injected fault that shaped the answer, if any
    wrote: bool = False  # whether the stored state changed (a no-op apply is False)
    user: str | None = None  # Impersonate-User, else the bearer token: who sent it

    @property
    def dry_run(self) -> bool:
        return "All" in self.query.get("dryRun", [])

    @property
    def is_write(self) -> bool:
        """A mutating request (not GET/LIST/WATCH) that was not a dry run."""
        return self.method not in _READ_METHODS and not self.dry_run

    @property
    def field_manager(self) -> str | None:
        values = self.query.get("fieldManager")
        return values[0] if values else None

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, values in self.query.items() for v in values)
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


class RequestLog:
    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def select(self, method: str | None = None, path_re: str | None = None) -> list[RequestRecord]:
        with self._lock:
            records = list(self._records)
        if method:
            records = [r for r in records if r.method == method.upper()]
        if path_re:
            pattern = re.compile(path_re)
            records = [r for r in records if pattern.search(r.path)]
        return records
