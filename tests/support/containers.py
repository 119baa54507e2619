"""buildah/podman in a private temp folder, configured as ``REAL-PARTS.md`` prescribes.

vfs storage, runc with cgroupfs, host networking (the default bridge would create a
10.88.0.0/16 network), chroot isolation for buildah, and the test registries marked insecure
(plain HTTP on 127.0.0.1). ``podman_socket`` adds a ``podman system service``: a Docker API for
the ``docker`` SDK without a Docker engine.

Storage lives in a short ``/tmp/rc-*`` folder, not under pytest's long ``tmp_path``: with
storage paths longer than about 50 characters every attached ``podman run`` waits 20 s for
conmon ("Exceeded conmon timeout waiting for container to exit").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.registry import RegistryStack, stop_process
from tests.support.tools import require_tool

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"


@dataclass(frozen=True)
class ContainerEnv:
    """Environment variables that point buildah and podman at this folder's configuration."""

    root: Path
    storage: Path
    variables: dict[str, str]

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.variables}

    def run(self, args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.environ, capture_output=True, text=True, timeout=timeout
        )

    def remove(self) -> None:
        """Delete the images and containers stored for this environment."""
        shutil.rmtree(self.storage, ignore_errors=True)


def container_env(root: Path, insecure_registries: Iterable[str] = ()) -> ContainerEnv:
    root.mkdir(parents=True, exist_ok=True)
    store = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    storage = root / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{store}/run"\ngraphroot = "{store}/graph"\n'
    )
    containers = root / "containers.conf"
    containers.write_text(
        "[containers]\n"
        'netns = "host"\n'
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    registries = root / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n"
        + "".join(
            f'[[registry]]\nlocation = "{host}"\ninsecure = true\n' for host in insecure_registries
        )
    )
    return ContainerEnv(
        root,
        store,
        {
            "CONTAINERS_STORAGE_CONF": str(storage),
            "CONTAINERS_CONF": str(containers),
            "CONTAINERS_REGISTRIES_CONF": str(registries),
            "BUILDAH_ISOLATION": "chroot",
        },
    )


def hello_context(destination: Path) -> Path:
    """A copy of ``examples/hello`` with Debian's static busybox, ready to build."""
    busybox = require_tool("busybox", "apt-get install busybox-static")
    shutil.copytree(HELLO, destination, ignore=shutil.ignore_patterns("busybox"))
    shutil.copy2(busybox, destination / "busybox")
    return destination


def start_podman_service(env: ContainerEnv) -> tuple[subprocess.Popen[bytes], str]:
    """``podman system service`` on a unix socket; returns (process, DOCKER_HOST value)."""
    podman = require_tool("podman", "apt-get install podman")
    socket_path = env.storage / "podman.sock"  # short: unix socket paths have a limit
    log = (env.root / "podman-service.log").open("wb")
    process = subprocess.Popen(
        [podman, "system", "service", "--time=0", f"unix://{socket_path}"],
        env=env.environ,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"podman system service did not start; see {log.name}")
        time.sleep(0.05)
    return process, f"unix://{socket_path}"


@pytest.fixture(scope="session")
def podman_socket(containers: ContainerEnv) -> Iterator[str]:
    """DOCKER_HOST of a podman service sharing ``containers``' storage."""
    process, docker_host = start_podman_service(containers)
    try:
        yield docker_host
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def containers(
    tmp_path_factory: pytest.TempPathFactory, registry_stack: RegistryStack
) -> Iterator[ContainerEnv]:
    """buildah/podman configuration trusting the test registry over plain HTTP."""
    require_tool("buildah", "apt-get install buildah")
    env = container_env(tmp_path_factory.mktemp("containers"), [registry_stack.registry.host])
    yield env
    env.remove()
