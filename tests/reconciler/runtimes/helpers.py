"""Shared by the reconciler tests: state repos with apps in them, and a cluster to check.

Everything runs against ``kube_target``: the loopback API double, or a real cluster when
``RISE_TEST_KUBECONFIG`` is set. On a real cluster set ``RISE_TEST_APP_IMAGE`` to an image
(pinned by digest) that serves HTTP on ``$PORT`` as a non-root user, so rollouts finish. Each
test is an installation of its own (its prefix is the installation identity and starts its
namespaces), asserts only on what it owns, and deletes its namespaces afterwards, so the
suite runs on a cluster that other installations and tenants share.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.desired import Renderer
from reconciler.loop import Reconciler
from reconciler.render import RenderSettings
from reconciler.runtimes.kubeapi import KubeApi
from reconciler.runtimes.kubernetes import KubernetesRuntime
from reconciler.state import Author, Edit, StateRepo
from tests.kubeapi._kube import Kube
from tests.support.kubeapi.fixtures import KubeTarget

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = os.environ.get("RISE_TEST_APP_IMAGE", f"registry.rise.dev/app@{DIGEST}")
BROKEN_IMAGE = "registry.invalid/rise-test/missing@sha256:" + "f" * 64
AUTHOR = Author("tester")


def deployment_id(n: int) -> str:
    return f"20261122-1530{n % 60:02d}-ab{n % 256:02x}"


def project_files(
    name: str,
    *,
    deploy: int | None = 1,
    image: str = IMAGE,
    replicas: int | None = None,
    state: str = "running",
    variables: dict[str, str] | None = None,
) -> dict[str, str]:
    """The files of one project; ``deploy`` numbers its deployment (None: not deployed)."""
    base = f"projects/{name}"
    files = {
        f"{base}/project.toml": 'owner = "user:tester"\nvisibility = "public"\n',
        f"{base}/.rise.toml": f'project = "{name}"\n',
    }
    if deploy is not None:
        lines = [
            f'id = "{deployment_id(deploy)}"',
            f'image = "{image}"',
            f'state = "{state}"',
            'created_by = "user:tester"',
            "created_at = 2026-11-22T15:30:12Z",
        ]
        if replicas is not None:
            lines.append(f"replicas = {replicas}")
        files[f"{base}/deployment.toml"] = "\n".join(lines) + "\n"
    if variables:
        body = "".join(f'{key} = "{value}"\n' for key, value in variables.items())
        files[f"{base}/env.toml"] = "[vars]\n" + body
    return files


def commit(repo: StateRepo, files: Mapping[str, str | None], message: str = "change") -> str:
    """Write (None: delete) files in one commit; returns the commit id."""

    def change(edit: Edit) -> str:
        for path, data in files.items():
            if data is None:
                edit.delete(path)
            else:
                edit.write(path, data)
        return message

    result = repo.commit(change, AUTHOR)
    assert result.commit is not None, "nothing changed"
    return result.commit


def remove_project(repo: StateRepo, name: str) -> str:
    return commit(repo, {f"projects/{name}": None}, f"remove {name}")


@dataclass
class KubeEnv:
    """A state repo, render settings with a namespace prefix of its own, and the cluster."""

    repo: StateRepo
    target: KubeTarget
    settings: RenderSettings
    prefix: str
    kube: Kube
    runtimes: list[KubernetesRuntime] = field(default_factory=list)

    def namespace(self, project: str) -> str:
        return self.settings.namespace(project)

    def runtime(self, *, timeout: float = 10.0, **kwargs: Any) -> KubernetesRuntime:
        """A runtime of this test's own installation (its prefix), unless told otherwise."""
        kwargs.setdefault("installation", self.prefix)
        api = KubeApi(self.target.api_client(), timeout=timeout)
        runtime = KubernetesRuntime(api, **kwargs)
        self.runtimes.append(runtime)
        return runtime

    def reconciler(self, runtime: KubernetesRuntime | None = None, **kwargs: Any) -> Reconciler:
        kwargs.setdefault("workers", 2)
        renderer = Renderer(self.settings, None, decrypt=True)
        return Reconciler(self.repo, runtime or self.runtime(), renderer, **kwargs)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        reply = self.kube.get(kind, name, namespace)
        return reply.body if reply.status == 200 else None

    def deployment_name(self, project: str, n: int) -> str:
        return f"{project}-{deployment_id(n)}"

    def service_selects(self, project: str) -> str | None:
        service = self.get("Service", "app", self.namespace(project))
        return service["spec"]["selector"]["rise.dev/deployment-id"] if service else None

    def writes(self) -> int:
        """Writes rise sent, counted by rise's own clients (true on any cluster)."""
        return sum(rt.api.writes for rt in self.runtimes)

    def reset_counts(self) -> None:
        for rt in self.runtimes:
            rt.api.reset_counts()
        if self.target.is_loopback:
            self.target.loopback.clear_log()


def make_env(target: KubeTarget, tmp_path: Path) -> Iterator[KubeEnv]:
    """Use as a generator fixture: yields a ``KubeEnv``, then removes its namespaces."""
    prefix = f"r{uuid.uuid4().hex[:6]}"
    render = RenderSettings(namespace_format=f"{prefix}-{{project}}")
    with target.api_client() as api_client:
        env = KubeEnv(
            StateRepo.init(tmp_path / "state.git"), target, render, prefix, Kube(api_client)
        )
        try:
            yield env
        finally:
            if not target.is_loopback:
                _delete_namespaces(env.kube, prefix)


def _delete_namespaces(kube: Kube, prefix: str) -> None:
    for item in kube.list("Namespace").body["items"]:
        if item["metadata"]["name"].startswith(prefix + "-"):
            kube.delete("Namespace", item["metadata"]["name"])


def rise_writes(target: KubeTarget, path_re: str | None = None) -> list[Any]:
    """Writes the double saw from rise (field manager rise, or deletes)."""
    return [
        r
        for r in target.loopback.writes(path_re)
        if r.method == "DELETE" or r.field_manager == "rise"
    ]


def wait_for(check: Callable[[], Any], passes: Callable[[], Any], tries: int = 60) -> Any:
    """Run ``passes`` until ``check`` holds: at once on the double, patient on a real cluster."""
    import time

    for attempt in range(tries):
        result = check()
        if result:
            return result
        passes()
        if attempt:
            time.sleep(min(2.0, 0.05 * attempt))
    raise AssertionError(f"condition not met after {tries} passes")
