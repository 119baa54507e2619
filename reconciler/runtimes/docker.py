"""The ``docker`` runtime: one container per active deployment on a Docker-API engine (SPEC §5).

Any engine that speaks the Docker API works: Docker, or ``podman system service``. Containers
run with host networking, each on a port of its own on this machine (``PORT`` is set to it),
and the server's proxy (``reconciler/server/proxy.py``) sends ``<project>.localhost`` there
through the shared ``Routes``.

- ``inventory``: one LIST of the containers labelled managed-by=rise, by project.
- ``sync``: blue/green. The deployment's container is created and started beside the serving
  one; once its health check passes the route switches to it, and the old container is
  removed as soon as no proxied request is in flight on it. A container that cannot be pulled,
  started, or made healthy leaves the old one serving and says why. A container stopped or
  removed by hand is started or created again on the next resync. A project whose containers
  already match writes nothing: a no-op resync is one LIST.
- ``remove``: a project that left git (or stopped) loses its route and its containers.

Like the Kubernetes runtime, ``sync`` never waits for a rollout: it reports ``settled=False``
and the loop looks again.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from reconciler.health import DeploymentHealth, ProjectHealth
from reconciler.runtimes.base import Desired, ObjectRef, SyncError, SyncResult
from reconciler.runtimes.containers import (
    RISE_FILTER,
    ContainerSpec,
    LiveContainer,
    SpecError,
    container_spec,
)
from reconciler.runtimes.engine import Engine, EngineError
from reconciler.runtimes.routes import Routes, Upstream
from schemas.server import DockerConfig

if TYPE_CHECKING:
    from reconciler.loop import DockerSettings

log = logging.getLogger("rise.reconciler")

ProjectLive = dict[str, LiveContainer]
"""Container name -> record."""
PullAuth = Callable[[str, str], "dict[str, str] | None"]
"""(project, image) -> registry credentials for pulling it, or None."""
Probe = Callable[[str, "str | None", float], "str | None"]
"""(address, HTTP path or None for TCP, timeout) -> why it is not healthy, or None."""

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Exit codes of a container someone stopped (docker stop: SIGTERM, then SIGKILL), not a crash.
_STOPPED_CODES = frozenset({0, 130, 137, 143})


class DockerRuntime:
    name = "docker"
    needs_secrets = True

    def __init__(
        self,
        engine: Engine,
        routes: Routes,
        *,
        bind: str = "127.0.0.1",
        pull_auth: PullAuth | None = None,
        probe: Probe | None = None,
        health_timeout: float = 60.0,
        drain_seconds: float = 30.0,
        quick_wait: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self.engine = engine
        self.routes = routes
        self.bind = bind
        self._pull_auth = pull_auth or (lambda project, image: None)
        self._probe = probe or http_probe
        self.health_timeout = health_timeout
        self.drain_seconds = drain_seconds
        self.quick_wait = quick_wait
        self._clock = clock
        # Containers that failed for good (start refused, crashed, never healthy), by id, with
        # why: they are reported, never started again; a new deployment replaces them.
        self._failed: dict[str, str] = {}
        # Address -> when the route left it: removed once idle, or after drain_seconds.
        self._draining: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- inventory ---------------------------------------------------------------------------

    def inventory(self, desired: Mapping[ObjectRef, Desired]) -> dict[str, ProjectLive]:
        try:
            items = self.engine.containers(RISE_FILTER)
        except EngineError as exc:
            raise SyncError(f"listing containers: {exc}", transient=True) from None
        out: dict[str, ProjectLive] = {}
        for item in items:
            live = LiveContainer.of(item)
            if live is not None:
                out.setdefault(live.project, {})[live.name] = live
        return out

    # -- sync --------------------------------------------------------------------------------

    def sync(
        self, project: str, desired: Sequence[Desired], live: ProjectLive | None, *, fresh: bool
    ) -> SyncResult[ProjectLive]:
        current = dict(live or {})
        try:
            spec = container_spec(project, desired)
        except SpecError as exc:
            return SyncResult(current, ProjectHealth("failed", str(exc)))
        if spec is None:
            return self._empty(project, current, "stopped")
        try:
            return _Rollout(self, project, spec, current).run()
        except EngineError as exc:
            error = SyncError(str(exc), transient=True)
            return SyncResult(
                current, ProjectHealth("failed", str(exc), spec.deployment_id), error=error
            )

    def remove(self, project: str, live: ProjectLive) -> SyncResult[ProjectLive]:
        return self._empty(project, dict(live), "removed from the state repository")

    def finish_pass(self) -> None:
        """Nothing to make durable: every change went to the engine as it was made."""

    def _empty(self, project: str, current: ProjectLive, why: str) -> SyncResult[ProjectLive]:
        self.routes.drop(project)
        pruned = 0
        try:
            for name, container in sorted(current.items()):
                self.engine.remove(container.id)
                del current[name]
                pruned += 1
        except EngineError as exc:
            error = SyncError(str(exc), transient=True)
            return SyncResult(
                current, ProjectHealth("failed", str(exc)), pruned=pruned, error=error
            )
        return SyncResult(None, ProjectHealth("stopped", why), pruned=pruned)

    # -- helpers the rollout uses --------------------------------------------------------------

    def failure(self, container: LiveContainer) -> str | None:
        with self._lock:
            return self._failed.get(container.id)

    def fail(self, container_id: str, reason: str) -> None:
        with self._lock:
            self._failed[container_id] = reason

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._failed.pop(container_id, None)

    def drained(self, address: str) -> bool:
        """No request in flight there (or it has had ``drain_seconds`` to finish)."""
        now = self._clock()
        with self._lock:
            since = self._draining.setdefault(address, now)
        if self.routes.in_flight(address) and now - since < self.drain_seconds:
            return False
        with self._lock:
            self._draining.pop(address, None)
        return True

    def ready_soon(self, container: LiveContainer) -> bool:
        """Whether a container just started passes its check within ``quick_wait`` seconds:
        most apps listen within a fraction of a second, and finding out here saves the loop
        a pass (``rollout_poll_seconds``) on every deploy. Slower apps are looked at by the
        loop as usual."""
        deadline = self._clock() + self.quick_wait
        while True:
            if self._probe(self.address(container.port), container.health_path, 0.5) is None:
                return True
            if self._clock() >= deadline:
                return False
            time.sleep(0.05)

    def probe(self, container: LiveContainer) -> str | None:
        return self._probe(self.address(container.port), container.health_path, 2.0)

    def address(self, port: int) -> str:
        return f"{self.bind}:{port}"

    def free_port(self, taken: set[int]) -> int:
        while True:
            with socket.socket() as sock:
                sock.bind((self.bind, 0))
                port = int(sock.getsockname()[1])
            if port not in taken:
                return port

    def pull_auth(self, project: str, image: str) -> dict[str, str] | None:
        return self._pull_auth(project, image)

    def now(self) -> float:
        return self._clock()


class _Rollout:
    """One sync of one project with a deployment to run (see the module docstring)."""

    def __init__(
        self, runtime: DockerRuntime, project: str, spec: ContainerSpec, live: ProjectLive
    ):
        self.rt = runtime
        self.project = project
        self.spec = spec
        self.live = live
        self.applied = 0
        self.pruned = 0

    def run(self) -> SyncResult[ProjectLive]:
        target = next((c for c in self.live.values() if c.runs(self.spec)), None)
        if target is None:
            target, why = self._create()
            if target is None:
                return self._result(DeploymentHealth("failed", why), settled=False)
        health = self._health(target)
        if health.state == "running":
            self._switch(target)
            settled = self._prune(keep=target)
        else:
            settled = False
            self._keep_serving(target)
            self._prune(keep=target, only_failed=True)
        return self._result(health, settled=settled and health.state == "running")

    # -- the target container ----------------------------------------------------------------

    def _create(self) -> tuple[LiveContainer | None, str]:
        spec, rt = self.spec, self.rt
        auth = rt.pull_auth(self.project, spec.image)
        try:
            rt.engine.ensure_image(spec.image, auth)
        except EngineError as exc:
            return None, f"cannot pull {spec.image}: {exc}"
        port = rt.free_port({c.port for c in self.live.values()})
        try:
            rt.engine.create(
                name=spec.name,
                image=spec.image,
                labels=spec.labels(port),
                env=spec.environment(port),
                entrypoint=spec.entrypoint,
                command=spec.command,
            )
        except EngineError as exc:
            if not exc.conflict:  # a create repeated after a crash: that container is ours
                return None, f"cannot create the container: {exc}"
        self.applied += 1
        found = rt.engine.find(spec.name)
        if found is None:
            return None, f"container {spec.name} vanished after it was created"
        self.live[found.name] = found
        return found, ""

    def _health(self, target: LiveContainer) -> DeploymentHealth:
        rt = self.rt
        failure = rt.failure(target)
        if failure is not None:
            return DeploymentHealth("failed", failure)
        if target.state in ("created", "configured", "initialized") or (
            target.state == "exited" and target.exit_code in _STOPPED_CODES
        ):
            # Never started (a crash between create and start), or stopped by hand: start it.
            try:
                rt.engine.start(target.id)
            except EngineError as exc:
                return self._failed(target, f"cannot start: {exc}")
            self.applied += 1
            target.state, target.status, target.created = "running", "Up", rt.now()
            if target.initial_delay or not rt.ready_soon(target):
                return DeploymentHealth("deploying", "started; waiting for its health check")
        if target.state != "running":
            return self._failed(target, self._why_stopped(target))
        waited = rt.now() - target.created
        if waited < target.initial_delay:  # as Kubernetes: no probe before the initial delay
            left = target.initial_delay - waited
            return DeploymentHealth("deploying", f"health check in {left:.0f}s (initial delay)")
        error = rt.probe(target)
        if error is None:
            return DeploymentHealth("running", None, available=True)
        if waited > target.initial_delay + rt.health_timeout:
            return self._failed(target, f"not healthy {rt.health_timeout:g}s after start: {error}")
        return DeploymentHealth("deploying", f"waiting for its health check: {error}")

    def _failed(self, target: LiveContainer, reason: str) -> DeploymentHealth:
        self.rt.fail(target.id, reason)
        return DeploymentHealth("failed", reason)

    def _why_stopped(self, target: LiveContainer) -> str:
        logs = self.rt.engine.logs_tail(target.id)
        code = target.exit_code
        what = f"exited with code {code}" if code is not None else f"is {target.state}"
        return f"the container {what}" + (f": {logs}" if logs else "")

    # -- traffic -----------------------------------------------------------------------------

    def _switch(self, target: LiveContainer) -> None:
        upstream = Upstream(target.deployment_id, self.rt.address(target.port))
        if self.rt.routes.get(self.project) != upstream:
            self.rt.routes.switch(self.project, upstream)
            log.info("%s now serves %s", target.name, self.project, extra={"project": self.project})

    def _keep_serving(self, target: LiveContainer) -> None:
        """While the target is not ready, traffic stays where it is; after a restart (no route
        yet) it goes to the newest other container that answers its health check."""
        if self.rt.routes.get(self.project) is not None:
            return
        others = [c for c in self.live.values() if c is not target and c.state == "running"]
        for other in sorted(others, key=lambda c: c.created, reverse=True):
            if self.rt.failure(other) is None and self.rt.probe(other) is None:
                self._switch(other)
                return

    def _prune(self, keep: LiveContainer, *, only_failed: bool = False) -> bool:
        """Remove the other containers; True when none is left. The one serving goes only once
        it is drained; with ``only_failed``, only containers that failed or stopped go."""
        route = self.rt.routes.get(self.project)
        left = False
        for name, other in sorted(self.live.items()):
            if other is keep:
                continue
            address = self.rt.address(other.port)
            serving = route is not None and route.address == address
            alive = other.state == "running" and not self.rt.failure(other)
            if only_failed and (serving or alive):
                left = True
                continue
            if not only_failed and not self.rt.drained(address):
                left = True
                continue
            self.rt.engine.remove(other.id)
            self.rt.forget(other.id)
            del self.live[name]
            self.pruned += 1
        return not left

    def _result(self, health: DeploymentHealth, *, settled: bool) -> SyncResult[ProjectLive]:
        spec = self.spec
        deployments = {spec.deployment_id: health}
        route = self.rt.routes.get(self.project)
        reason = health.reason
        if route is not None and route.deployment_id != spec.deployment_id:
            deployments[route.deployment_id] = DeploymentHealth(
                "running", f"serving until {spec.deployment_id} is available", available=True
            )
            if health.state in ("deploying", "failed"):
                reason = f"{reason}; {route.deployment_id} keeps serving"
        return SyncResult(
            live=self.live or None,
            health=ProjectHealth(health.state, reason, spec.deployment_id, deployments),
            applied=self.applied,
            unchanged=0 if self.applied else 1,
            pruned=self.pruned,
            settled=settled,
        )


def http_probe(address: str, path: str | None, timeout: float) -> str | None:
    """None when the app answers: any HTTP status below 500 on ``path``, or a TCP connect.
    (Plain ``http.client``: one small request, nothing logged per probe.)"""
    host, _, port = address.rpartition(":")
    if path is None:
        try:
            with socket.create_connection((host, int(port)), timeout):
                return None
        except OSError as exc:
            return f"TCP {address}: {exc.strerror or exc}"
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "rise-health-check"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"GET {path}: {type(exc).__name__} {exc}".strip()
    finally:
        connection.close()
    return f"GET {path} answered {status}" if status >= 500 else None


def build_docker_runtime(settings: DockerSettings) -> DockerRuntime:
    """The runtime ``[docker]`` describes; the engine is DOCKER_HOST unless configured."""
    config = settings.config or DockerConfig()
    environ = os.environ if settings.environ is None else settings.environ
    host = config.host or environ.get("DOCKER_HOST") or DEFAULT_HOST
    return DockerRuntime(
        Engine(host),
        settings.routes or Routes(),
        bind=config.bind,
        pull_auth=settings.pull_auth,
        health_timeout=config.health_timeout,
        drain_seconds=config.drain_seconds,
    )
