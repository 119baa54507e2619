"""Which runtime a configuration asks for, built with what it needs (the loop's wiring).

``build_runtime`` makes the ``kubernetes``, ``docker`` or ``rendered`` runtime and, for
Kubernetes with a lease, the leader elector that gates its writes; ``reconciler.loop``'s
``build_controller`` hands it the server configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.leader import LeaderElector
    from reconciler.runtimes.base import Runtime
    from reconciler.runtimes.docker import PullAuth
    from reconciler.runtimes.routes import Routes
    from reconciler.state import StateRepo
    from schemas.server import DockerConfig


@dataclass(frozen=True)
class DockerSettings:
    """What the ``docker`` runtime needs beyond ``[docker]``: the route table it shares with
    the server's proxy, and pull credentials for the platform registry."""

    config: DockerConfig | None = None
    routes: Routes | None = None
    pull_auth: PullAuth | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str = "default"
    name: str | None = None
    """None: ``rise-<installation>``, so installations sharing a cluster do not share it."""
    seconds: float = 15.0


def build_runtime(
    kind: str,
    repo: StateRepo,
    *,
    kubeconfig: str | None = None,
    branch: str = "rendered",
    timeout: float = 30.0,
    page_size: int = 500,
    lease: LeaseSettings | None = None,
    installation: str | None = None,
    docker: DockerSettings | None = None,
) -> tuple[Runtime[Any], LeaderElector | None]:
    """The runtime named ``kind`` and, for Kubernetes with a ``lease``, the leader elector
    that gates its writes. ``installation`` (default: derived from ``repo``) is the identity
    its objects carry. ValueError says what is wrong (an unreadable kubeconfig...)."""
    if kind == "rendered":
        from reconciler.runtimes.rendered import RenderedRuntime

        return RenderedRuntime(repo, branch=branch), None
    if kind == "docker":
        from reconciler.runtimes.docker import build_docker_runtime

        return build_docker_runtime(docker or DockerSettings()), None
    if kind != "kubernetes":
        raise ValueError(
            f"runtime {kind!r} is not available; use 'kubernetes', 'docker' or 'rendered'"
        )
    from reconciler.leader import LeaderElector
    from reconciler.runtimes.installation import check_installation, default_installation
    from reconciler.runtimes.kubeapi import KubeApi, KubeError
    from reconciler.runtimes.kubernetes import KubernetesRuntime

    identity = check_installation(installation or default_installation(repo))
    try:
        api = KubeApi.from_kubeconfig(kubeconfig, timeout=timeout)
    except KubeError as exc:
        raise ValueError(exc.message) from None
    elector = None
    if lease is not None:
        elector = LeaderElector(
            KubeApi(api.api_client, timeout=timeout),  # its own request counts
            namespace=lease.namespace,
            name=lease.name or f"rise-{identity}",
            lease_seconds=lease.seconds,
        )
    can_write = elector.is_leader if elector is not None else None
    runtime = KubernetesRuntime(
        api, installation=identity, page_size=page_size, can_write=can_write
    )
    return runtime, elector
