"""pytest fixtures for the loopback Kubernetes API (register as a plugin, or star-import).

- `kube_api_server` (session): one `LoopbackKubeAPI` for the whole run.
- `kube_api` (function): that server, reset to a fresh cluster before the test.
- `kube_target` (function): where kube tests point. With `RISE_TEST_KUBECONFIG` set, a real
  cluster (no fault injection, no request log: using those skips the test); otherwise the
  loopback server. Hand `kube_target.kubeconfig` to the code under test.
- `kube_namespace` (function): a fresh namespace on the target, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import LoopbackKubeAPI

KUBECONFIG_ENV = "RISE_TEST_KUBECONFIG"

# Helpers only the double has; on a real cluster, touching them skips the test.
_LOOPBACK_ONLY = {
    "inject",
    "clear_faults",
    "requests",
    "writes",
    "clear_log",
    "fail_pods",
    "heal_pods",
    "unpullable_image",
    "expire_progress_deadline",
    "tick",
    "advance_clock",
    "reset",
    "seed",
    "get_object",
    "list_objects",
    "rollout_ticks",
    "auto_tick",
    "namespace_delete_delay",
}


class KubeTarget:
    """The cluster a test runs against: a kubeconfig, and the double when there is one."""

    def __init__(self, kubeconfig: Path, server: LoopbackKubeAPI | None) -> None:
        self.kubeconfig = kubeconfig
        self._server = server

    @property
    def is_loopback(self) -> bool:
        return self._server is not None

    @property
    def loopback(self) -> LoopbackKubeAPI:
        """The double; skips the test when the target is a real cluster."""
        if self._server is None:
            pytest.skip(
                f"needs the loopback API double (fault injection, request log, pod failure "
                f"simulation); {KUBECONFIG_ENV} points at a real cluster"
            )
        return self._server

    def api_client(self) -> Any:
        """A fresh `kubernetes.client.ApiClient` for the target."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def __getattr__(self, name: str) -> Any:
        # `kube_target.inject(...)`, `kube_target.writes()`...: delegate, or skip on a real cluster.
        if name in _LOOPBACK_ONLY:
            return getattr(self.loopback, name)
        raise AttributeError(name)


@pytest.fixture(scope="session")
def kube_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackKubeAPI]:
    server = LoopbackKubeAPI().start()
    server.write_kubeconfig(tmp_path_factory.mktemp("kubeapi") / "kubeconfig")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_api(kube_api_server: LoopbackKubeAPI) -> LoopbackKubeAPI:
    kube_api_server.reset()
    return kube_api_server


@pytest.fixture
def kube_target(request: pytest.FixtureRequest, tmp_path: Path) -> KubeTarget:
    real = os.environ.get(KUBECONFIG_ENV)
    if real:
        return KubeTarget(Path(real), None)
    server: LoopbackKubeAPI = request.getfixturevalue("kube_api")
    return KubeTarget(server.write_kubeconfig(tmp_path / "kubeconfig"), server)


@pytest.fixture
def kube_namespace(kube_target: KubeTarget) -> Iterator[str]:
    from kubernetes import client

    name = f"rise-test-{uuid.uuid4().hex[:8]}"
    with kube_target.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
