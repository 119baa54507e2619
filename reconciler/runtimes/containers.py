"""A project's rendered objects as one container, and a listed container as a record (pure).

The ``docker`` runtime reads the same rendered objects as the ``kubernetes`` one, so both
deploy the same thing: the Deployment gives image, command, args, env, replicas and the
readiness probe; the env Secret gives the secret values its ``secretKeyRef``s name. Namespace,
Service, Ingress and NetworkPolicy have no meaning on one engine and are ignored: the
server's proxy routes and checks access instead.

A container is named for its project, deployment id and spec hash, so a create repeated after
a crash meets the container it already made instead of making a second one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.runtimes.base import DEPLOYMENT_ID, MANAGED_BY, PROJECT, SPEC_HASH, Desired

PORT_LABEL = "rise.dev/port"
HEALTH_LABEL = "rise.dev/health-path"
DELAY_LABEL = "rise.dev/health-delay"
RISE_FILTER = f"{MANAGED_BY}=rise"
_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")


class SpecError(ValueError):
    """The rendered objects cannot be run as a container (the message says why)."""


@dataclass(frozen=True)
class ContainerSpec:
    """The container one deployment of a project runs as (its port is chosen at create)."""

    project: str
    deployment_id: str
    spec_hash: str
    image: str
    env: dict[str, str] = field(repr=False)
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    health_path: str | None = None
    """HTTP path of the readiness check; None: a TCP connect is the check."""
    initial_delay: int = 0

    @property
    def name(self) -> str:
        return f"rise-{self.project}-{self.deployment_id}-{self.spec_hash[:8]}"

    def labels(self, port: int) -> dict[str, str]:
        return {
            MANAGED_BY: "rise",
            PROJECT: self.project,
            DEPLOYMENT_ID: self.deployment_id,
            SPEC_HASH: self.spec_hash,
            PORT_LABEL: str(port),
            HEALTH_LABEL: self.health_path or "",
            DELAY_LABEL: str(self.initial_delay),
        }

    def environment(self, port: int) -> dict[str, str]:
        """The app's env with PORT set to the port it got: with host networking every
        container needs a port of its own."""
        return {**self.env, "PORT": str(port)}


def container_spec(project: str, desired: Sequence[Desired]) -> ContainerSpec | None:
    """What ``project`` should run; None when nothing (no deployment, or stopped)."""
    deployment = next((d for d in desired if d.ref.kind == "Deployment"), None)
    if deployment is None or deployment.deployment_id is None:
        return None
    obj = deployment.obj()
    spec = obj.get("spec") or {}
    if spec.get("replicas", 1) == 0:
        return None
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        raise SpecError(f"{deployment.ref} has no container")
    app = containers[0]
    secrets = _secret_values(desired)
    probe = app.get("readinessProbe") or {}
    http = probe.get("httpGet")
    return ContainerSpec(
        project=project,
        deployment_id=deployment.deployment_id,
        spec_hash=deployment.spec_hash or "0" * 8,
        image=str(app.get("image") or ""),
        env=_env(app.get("env") or [], secrets),
        entrypoint=app.get("command") or None,
        command=app.get("args") or None,
        health_path=str(http.get("path") or "/") if http else None,
        initial_delay=int(probe.get("initialDelaySeconds") or 0),
    )


def _secret_values(desired: Sequence[Desired]) -> dict[tuple[str, str], str]:
    """(secret name, key) -> decoded value of every Secret rendered for the project."""
    values: dict[tuple[str, str], str] = {}
    for item in desired:
        if item.ref.kind != "Secret":
            continue
        for key, encoded in (item.obj().get("data") or {}).items():
            try:
                values[(item.ref.name, key)] = base64.b64decode(encoded).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SpecError(f"{item.ref}: value of {key!r} is not base64 text") from None
    return values


def _env(
    entries: Sequence[Mapping[str, Any]], secrets: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        name = str(entry["name"])
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[name] = str(entry.get("value") or "")
            continue
        key = (str(ref.get("name")), str(ref.get("key")))
        if key not in secrets:
            raise SpecError(f"env {name} names secret {key[0]} key {key[1]}, which is not rendered")
        env[name] = secrets[key]
    return env


@dataclass(slots=True)
class LiveContainer:
    """A container with rise's label, as one LIST of the engine shows it."""

    id: str
    name: str
    project: str
    deployment_id: str
    spec_hash: str
    port: int
    health_path: str | None
    initial_delay: int
    state: str
    """created, running, exited, paused... as the engine says."""
    status: str
    created: float
    """Seconds since the epoch."""

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> LiveContainer | None:
        """From an item of ``GET /containers/json``; None when its labels are not rise's."""
        labels = item.get("Labels") or {}
        project = labels.get(PROJECT)
        if labels.get(MANAGED_BY) != "rise" or not project:
            return None
        try:
            port = int(labels.get(PORT_LABEL, ""))
            delay = int(labels.get(DELAY_LABEL) or 0)
        except ValueError:
            port, delay = 0, 0
        names = item.get("Names") or [""]
        return cls(
            id=str(item.get("Id") or ""),
            name=str(names[0]).lstrip("/"),
            project=str(project),
            deployment_id=str(labels.get(DEPLOYMENT_ID) or ""),
            spec_hash=str(labels.get(SPEC_HASH) or ""),
            port=port,
            health_path=labels.get(HEALTH_LABEL) or None,
            initial_delay=delay,
            state=str(item.get("State") or "unknown").lower(),
            status=str(item.get("Status") or ""),
            created=float(item.get("Created") or 0),
        )

    def runs(self, spec: ContainerSpec) -> bool:
        return self.deployment_id == spec.deployment_id and self.spec_hash == spec.spec_hash

    @property
    def exit_code(self) -> int | None:
        match = _EXIT_CODE.match(self.status)
        return int(match.group(1)) if match else None
