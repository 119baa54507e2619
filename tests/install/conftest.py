"""Shared by the install tests: the CLI as a subprocess, values files, installs that clean up.

On a real cluster (``RISE_TEST_KUBECONFIG``) every test is an installation of its own: its own
namespace and names (``rise-test-<random>``), and it deletes exactly what it made.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.install.apply import install_kind
from cli.install.manifests import keys_secret_name, render_kubernetes
from reconciler.runtimes.kubeapi import KubeApi, KubeError, kind
from schemas.install import InstallValues
from tests.support.kubeapi.fixtures import KubeTarget

ROOT = Path(__file__).resolve().parents[2]
REMOTE = "https://git.example.com/platform/state.git"
CREDENTIALS = "state-credentials"


def run_rise(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``rise ARGS`` from this tree, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_values(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@dataclass
class Installation:
    """An install of its own on the target: values, their file and a client for the cluster."""

    values: InstallValues
    values_file: Path
    target: KubeTarget
    api: KubeApi

    def objects(self) -> list[dict[str, Any]]:
        return render_kubernetes(self.values)

    def rewrite(self, extra: str) -> InstallValues:
        """Append TOML to the values file (an upgrade); returns the new values."""
        from cli.install.manifests import load_values

        self.values_file.write_text(self.values_file.read_text() + extra)
        self.values = load_values(self.values_file)
        return self.values

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.api.get(install_kind(kind).path(name, namespace))

    def keys(self) -> dict[str, str]:
        secret = self.get("Secret", keys_secret_name(self.values), self.values.namespace)
        assert secret is not None, "the keys Secret is missing"
        return dict(secret["data"])

    def create_credentials(self) -> None:
        """What the docs have an operator do first: the namespace and the git credentials."""
        namespace = self.values.namespace
        self.api.create(
            kind("Namespace").collection(),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CREDENTIALS, "namespace": namespace},
            "stringData": {"password": "git-token"},
        }
        self.api.create(kind("Secret").collection(namespace), secret)

    def remove(self) -> None:
        """Delete what this install made (the namespace takes its contents along)."""
        for obj in reversed(self.objects()):
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding", "Namespace"):
                with contextlib.suppress(KubeError):
                    self.api.delete(install_kind(obj["kind"]).path(obj["metadata"]["name"]))


def values_text(namespace: str, *, remote: bool = True) -> str:
    lines = [f'namespace = "{namespace}"', 'image = "rise:test"']
    if remote:
        lines += ["[state]", f'url = "{REMOTE}"', f'credentials_secret = "{CREDENTIALS}"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def bare_installation(kube_target: KubeTarget, tmp_path: Path) -> Iterator[Installation]:
    """An install of its own, before the operator made the namespace and credentials."""
    namespace = f"rise-test-{uuid.uuid4().hex[:8]}"
    values_file = write_values(tmp_path / "values.toml", values_text(namespace))
    from cli.install.manifests import load_values

    with kube_target.api_client() as api_client:
        found = Installation(
            load_values(values_file), values_file, kube_target, KubeApi(api_client)
        )
        try:
            yield found
        finally:
            if not kube_target.is_loopback:
                found.remove()


@pytest.fixture
def installation(bare_installation: Installation) -> Installation:
    """An install of its own whose namespace and git credentials Secret exist."""
    bare_installation.create_credentials()
    return bare_installation
