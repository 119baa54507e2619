"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

Several reconciler replicas may run; the one named in the Lease's ``holderIdentity`` writes.
Every update is a PUT carrying the resourceVersion it read, so two replicas racing for the
same Lease cannot both win: the loser gets 409 Conflict.

- The holder renews every ``retry_seconds``. It stops counting itself leader when it has not
  renewed for ``renew_seconds`` (less than ``lease_seconds``), before anyone may take over.
- Another replica takes over only when the Lease has not changed for ``lease_seconds`` as
  measured by its own clock (the injected ``clock``; timestamps in the Lease are for people,
  so clock skew between machines does not matter).
- ``stop()`` releases the Lease (empty holder), so a successor need not wait it out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reconciler.runtimes.kubeapi import KubeApi, KubeError, kind

log = logging.getLogger("rise.reconciler")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_identity() -> str:
    """``<host>_<random>``: unique per process even with several replicas on one host."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str = "default",
        name: str = "rise-reconciler",
        identity: str | None = None,
        lease_seconds: float = 15.0,
        renew_seconds: float | None = None,
        retry_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ):
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds or lease_seconds * 2 / 3
        self.retry_seconds = retry_seconds or lease_seconds / 7.5
        if not self.retry_seconds < self.renew_seconds < self.lease_seconds:
            raise ValueError(
                "leader election needs retry < renew < lease seconds, got "
                f"{self.retry_seconds} < {self.renew_seconds} < {self.lease_seconds}"
            )
        self._clock = clock
        self._now = now
        self._path = kind("Lease").path(name, namespace)
        self._renewed_at: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.holder: str | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state -----------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """Whether this replica holds the Lease and renewed it recently enough to act on it."""
        with self._lock:
            renewed = self._renewed_at
        return renewed is not None and self._clock() - renewed < self.renew_seconds

    def why_not(self) -> str:
        """Why this replica is not leading, for a person."""
        lease = f"{self.namespace}/{self.name}"
        if self.last_error:
            return f"cannot hold the lease {lease}: {self.last_error}"
        return f"another replica holds the lease {lease} ({self.holder or 'unknown'})"

    # -- one step --------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """Read the Lease and take or renew it if allowed; True when this replica holds it."""
        with self._lock:
            try:
                won = self._step()
                self.last_error = None
            except KubeError as exc:
                log.warning("leader election: %s", exc.message, extra={"lease": self.name})
                self.last_error = exc.message
                won = False
            if won:
                self._renewed_at = self._clock()
                self.holder = self.identity
            return won

    def _step(self) -> bool:
        lease = self.api.get(self._path)
        stamp = self._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if lease is None:
            return self._write(None, self._spec(stamp, stamp, 0))
        spec = lease.get("spec") or {}
        record = tuple(sorted(spec.items()))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        self.holder = spec.get("holderIdentity") or None
        mine = self.holder == self.identity
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        if self.holder and not mine and self._clock() < self._observed_at + duration:
            return False
        if mine:
            acquired, transitions = spec.get("acquireTime") or stamp, spec.get("leaseTransitions")
        else:
            acquired, transitions = stamp, int(spec.get("leaseTransitions") or 0) + 1
        return self._write(lease, self._spec(acquired, stamp, transitions or 0))

    def _spec(self, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_seconds),
            "acquireTime": acquired,
            "renewTime": renewed,
            "leaseTransitions": transitions,
        }

    def _write(self, lease: dict[str, Any] | None, spec: dict[str, Any]) -> bool:
        """Create, or replace with the resourceVersion read; a 409 means another won."""
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }
        try:
            if lease is None:
                written = self.api.create(kind("Lease").collection(self.namespace), body)
            else:
                meta["resourceVersion"] = lease["metadata"]["resourceVersion"]
                written = self.api.replace(self._path, body)
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        self._observed = tuple(sorted((written.get("spec") or {}).items()))
        self._observed_at = self._clock()
        return True

    def release(self) -> None:
        """Give the Lease up at once (empty holder) if this replica holds it."""
        with self._lock:
            if self._renewed_at is None:
                return
            self._renewed_at = None
            try:
                lease = self.api.get(self._path)
                spec = (lease or {}).get("spec") or {}
                if lease is None or spec.get("holderIdentity") != self.identity:
                    return
                released = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
                self._write(lease, released)
            except KubeError as exc:
                log.warning("could not release the lease: %s", exc.message)

    # -- in the background -----------------------------------------------------------------

    def start(self) -> None:
        """Keep trying (and renewing) every ``retry_seconds`` in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rise-leader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            was = self.is_leader()
            now = self.try_acquire_or_renew() or self.is_leader()
            if now != was:
                log.info(
                    "leader election: %s the lease %s/%s",
                    "acquired" if now else "lost",
                    self.namespace,
                    self.name,
                    extra={"identity": self.identity},
                )
            self._stop.wait(self.retry_seconds)

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_seconds + self.api.timeout)
            self._thread = None
        if release:
            self.release()
