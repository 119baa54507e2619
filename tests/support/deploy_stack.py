"""Everything ``rise d c`` talks to, started for real on 127.0.0.1, and the CLI run against it.

- a ``rise server`` subprocess (``tests.server.conftest.start_server``) with
  ``--registry-url`` naming
- Debian's ``docker-registry``, whose token auth is that server's
  ``/api/v1/registry/token`` and trusts the server's registry CA (``DATA/registry/ca.pem``);
- buildah/podman configured as REAL-PARTS.md prescribes, trusting the registry over HTTP;
- a config folder for the CLI (``XDG_CONFIG_HOME``), logged in with ``rise login``.

``DeployStack.rise(...)`` runs ``python -m cli.main`` from this tree as a subprocess, exactly
as a user's shell would (its own environment, its own working directory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import ADMIN_PASSWORD, RunningServer, start_server
from tests.support.containers import ContainerEnv, container_env, hello_context
from tests.support.registry import Registry, start_registry
from tests.support.waiting import free_port

TREE = Path(__file__).resolve().parents[2]


class Cli:
    """The ``rise`` command of this tree, run as a user's shell runs it: a subprocess with its
    own config folder (``XDG_CONFIG_HOME``), working directory and environment."""

    def __init__(self, home: Path, extra_env: Mapping[str, str] | None = None):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(extra_env or {})

    @property
    def environ(self) -> dict[str, str]:
        """This tree's CLI, its own config folder, no RISE_* leaking in from the test run."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
        env.update(
            PYTHONPATH=str(TREE),
            XDG_CONFIG_HOME=str(self.home / "config"),
            HOME=str(self.home),
            NO_COLOR="1",
            **self.extra_env,
        )
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli.main", *args]

    def rise(
        self,
        *args: str,
        cwd: Path | None = None,
        stdin: str | None = None,
        timeout: float = 240,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=cwd or self.home,
            input=stdin,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def login(self, url: str, username: str, password: str) -> None:
        done = self.rise("login", url, "-u", username, "--password-stdin", stdin=password + "\n")
        assert done.returncode == 0, done.stderr


@dataclass
class DeployStack:
    server: RunningServer
    registry: Registry
    containers: ContainerEnv
    cli: Cli

    def rise(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.cli.rise(*args, **kw)

    def app(self, folder: Path, project: str, backend: str = "auto") -> Path:
        """A copy of examples/hello in ``folder``, its .rise.toml naming ``project``."""
        hello_context(folder)
        (folder / ".rise.toml").write_text(
            f'project = "{project}"\n\n[build]\nbackend = "{backend}"\n\n'
            '[deploy]\nport = 8080\nhealth = { path = "/" }\n'
        )
        return folder

    def stop(self) -> None:
        self.registry.stop()
        self.server.terminate()
        self.containers.remove()


def start_deploy_stack(
    workdir: Path, server_args: tuple[str, ...] = (), server_env: Mapping[str, str] | None = None
) -> DeployStack:
    workdir.mkdir(parents=True, exist_ok=True)
    registry_port = free_port()
    host = f"127.0.0.1:{registry_port}"
    server = start_server(
        workdir / "data", dict(server_env or {}), ("--registry-url", host, *server_args)
    )
    try:
        registry = start_registry(
            workdir / "registry",
            realm=f"{server.url}/api/v1/registry/token",
            rootcert=workdir / "data" / "registry" / "ca.pem",
            port=registry_port,
        )
    except BaseException:
        server.terminate()
        raise
    containers = container_env(workdir / "containers", [host])
    return DeployStack(server, registry, containers, Cli(workdir / "home", containers.variables))


@pytest.fixture(scope="module")
def deploy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployStack]:
    """One stack per test module: rendered runtime (the server's default), logged in as admin."""
    from tests.support.tools import require_tool

    require_tool("buildah", "apt-get install buildah")
    stack = start_deploy_stack(tmp_path_factory.mktemp("deploy"))
    try:
        stack.cli.login(stack.server.url, "admin", ADMIN_PASSWORD)
        yield stack
    finally:
        stack.stop()
