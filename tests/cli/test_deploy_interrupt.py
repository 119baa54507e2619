"""Ctrl-C during ``rise d c``'s push: nothing is committed and the push tool stops too.
(Ctrl-C while following is in test_deploy_kube.py, where a rollout can be held still.)

The push goes to a registry address that accepts connections and never answers (a listening
socket nobody serves), so the push is reliably under way when SIGINT arrives.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state import StateRepo
from tests.server.conftest import ADMIN_PASSWORD, RunningServer, start_server
from tests.support.containers import ContainerEnv, container_env, hello_context
from tests.support.deploy_stack import Cli
from tests.support.processes import interrupt, process_tree
from tests.support.tools import require_tool


@pytest.fixture
def stalled_registry() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # connections queue up; nothing ever reads them
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def containers(tmp_path: Path, stalled_registry: str) -> Iterator[ContainerEnv]:
    require_tool("buildah", "apt-get install buildah")
    env = container_env(tmp_path / "containers", [stalled_registry])
    yield env
    env.remove()


@pytest.fixture
def server(tmp_path: Path, stalled_registry: str) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data", args=("--registry-url", stalled_registry))
    try:
        running.admin().ok("POST", "/api/v1/projects", {"name": "hello"}, 201)
        yield running
    finally:
        running.terminate()


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 120) -> str:
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen += line
        if text in line:
            return seen
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"never printed {text!r}; stderr so far:\n{seen}")


def test_ctrl_c_during_the_push_commits_nothing_and_stops_the_push(
    server: RunningServer, containers: ContainerEnv, tmp_path: Path
) -> None:
    app = hello_context(tmp_path / "app")
    cli = Cli(tmp_path / "home", containers.variables)
    cli.login(server.url, "admin", ADMIN_PASSWORD)
    repo = StateRepo(server.state_repo)
    head = repo.head()

    process = subprocess.Popen(
        cli.command("d", "c"), cwd=app, env=cli.environ, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_line(process, "Pushing container image to ")
        time.sleep(0.5)  # the push tool is started and waits on the registry
        tools = process_tree(process.pid) - {process.pid}
    finally:
        _, rest = interrupt(process)
    assert tools, "the push runs as a child process"
    assert process.returncode == 130, rest
    assert "Interrupted before the deploy: nothing was committed, nothing was deployed." in rest
    assert repo.head() == head  # no deployment committed
    assert not {pid for pid in tools if Path(f"/proc/{pid}").exists()}  # the push stopped too
