"""``rise dev`` as a user runs it, in a subprocess, and what a test does around it.

``start_dev`` runs ``python -m cli.main dev --data-dir D --port P --registry-port R`` in a
clean environment (no ``DOCKER_HOST``: rise dev finds podman and starts its own service), and
waits for its banner. ``DevProcess`` sends Ctrl-C (SIGINT) or SIGKILL to it, logs in through
the API, reaches apps through the proxy with a ``Host`` header, and talks to rise dev's own
engine through the socket rise dev made. ``Builder`` builds and pushes an app folder with
``rise build --push`` and buildah, as a user would, into its own container storage.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cli.devstack import run_dir
from tests.server.conftest import Api
from tests.support.containers import ContainerEnv, container_env, hello_context
from tests.support.tools import require_tool
from tests.support.waiting import free_port, signal_and_wait

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "dev-admin-password"


@dataclass
class DevProcess:
    data: Path
    port: int
    registry_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    @property
    def docker_host(self) -> str:
        return f"unix://{run_dir(self.data)}/podman.sock"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def admin(self) -> Api:
        response = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return Api(self.url, response.json()["access_token"], "admin")

    def app(self, project: str, path: str = "/", **kw: Any) -> httpx.Response:
        """A request to ``project``'s app through the proxy (``<project>.localhost``)."""
        headers = {"host": f"{project}.localhost:{self.port}", **kw.pop("headers", {})}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10, **kw)

    def engine(self) -> Any:
        import docker

        return docker.APIClient(base_url=self.docker_host, version="auto")

    def containers(self, project: str) -> list[dict[str, Any]]:
        label = f"rise.dev/project={project}"
        items: list[dict[str, Any]] = self.engine().containers(all=True, filters={"label": [label]})
        return items

    def podman(self, *args: str) -> str:
        """The podman CLI on rise dev's container storage (works while rise dev is down)."""
        folder = self.data / "podman"
        env = {**os.environ, "CONTAINERS_CONF": str(folder / "containers.conf")}
        env["CONTAINERS_STORAGE_CONF"] = str(folder / "storage.conf")
        result = subprocess.run(
            ["podman", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user at the terminal; the exit status."""
        return signal_and_wait(self.process, signal.SIGINT, timeout, self.log)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def start_dev(
    data: Path,
    *,
    port: int | None = None,
    registry_port: int | None = None,
    log: str = "info",
    admin_password: str | None = ADMIN_PASSWORD,
    env_extra: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> DevProcess:
    """``env_extra`` adds or (with PATH) replaces variables; without it, podman and
    docker-registry must be installed."""
    if env_extra is None:
        require_tool("podman", "apt-get install podman")
        require_tool("docker-registry", "apt-get install docker-registry")
    port = port or free_port()
    registry_port = registry_port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISE_", "CONTAINERS_"))}
    env.pop("DOCKER_HOST", None)
    env.update(RISE_RUNTIME__RESYNC_SECONDS="5", PYTHONPATH=str(ROOT), **(env_extra or {}))
    if admin_password is not None:
        env["RISE_ADMIN_PASSWORD"] = admin_password
    log_path = data.parent / f"{data.name}-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "cli.main", "dev", "--data-dir", str(data)]
    command += ["--port", str(port), "--registry-port", str(registry_port), "--log-level", log]
    command += args
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=ROOT)
    dev = DevProcess(data, port, registry_port, process, log_path)
    deadline = time.monotonic() + 60
    while "rise is running at" not in dev.log():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                dev.interrupt()
            raise RuntimeError(f"rise dev did not start:\n{dev.log()[-3000:]}")
        time.sleep(0.05)
    return dev


class Builder:
    """Builds app folders and pushes them to rise dev's registry with ``rise build --push``."""

    def __init__(self, root: Path, dev: DevProcess):
        require_tool("buildah", "apt-get install buildah")
        self.root = root
        self.env: ContainerEnv = container_env(root / "containers", [dev.registry])
        self.dev = dev
        self.count = 0

    def hello(self, page: str | None = None) -> Path:
        """A copy of ``examples/hello`` (with busybox), its page replaced when given."""
        self.count += 1
        folder = hello_context(self.root / f"hello-{self.count}")
        if page is not None:
            (folder / "www" / "index.html").write_text(page)
        return folder

    def files(self, size: int) -> Path:
        """examples/hello plus a ``size``-byte file and two CGI scripts: ``echo`` answers a
        POST with its body, ``env`` prints some of the app's environment."""
        folder = self.hello()
        (folder / "www" / "big.bin").write_bytes(bytes(range(256)) * (size // 256))
        cgi = folder / "www" / "cgi-bin"
        cgi.mkdir()
        echo = cgi / "echo"
        echo.write_text(
            "#!/bin/sh\necho 'Content-Type: application/octet-stream'\necho\n"
            'head -c "$CONTENT_LENGTH"\n'
        )
        echo.chmod(0o755)
        env = cgi / "env"
        env.write_text(
            "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n"
            'echo "PORT=$PORT GREETING=$GREETING TOKEN=$TOKEN"\n'
        )
        env.chmod(0o755)
        return folder

    def unstartable(self) -> Path:
        """An app whose command does not exist: it builds and pushes, and cannot start."""
        self.count += 1
        folder = self.root / f"broken-{self.count}"
        folder.mkdir()
        (folder / "www").mkdir()
        (folder / "www" / "index.html").write_text("never served")
        (folder / "Dockerfile").write_text('FROM scratch\nCOPY www /www\nCMD ["/no-such-server"]\n')
        (folder / ".rise.toml").write_text('project = "hello"\n')
        return folder

    def push(
        self, folder: Path, token: str, project: str = "hello", *, with_dev_engine: bool = False
    ) -> str:
        """``rise build --push``; the image pinned by digest, as the command prints it.
        ``with_dev_engine``: build in rise dev's podman (DOCKER_HOST, as its banner says),
        else with buildah in a storage of this builder's own."""
        env = {**self.env.environ, "RISE_URL": self.dev.url, "RISE_TOKEN": token}
        env.update(PYTHONPATH=str(ROOT))
        env.pop("DOCKER_HOST", None)
        if with_dev_engine:
            env["DOCKER_HOST"] = self.dev.docker_host
            for key in self.env.variables:
                env.pop(key, None)
        else:
            env["RISE_BUILD_BACKEND"] = "buildah"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "build",
                "--push",
                "--project",
                project,
                "-t",
                f"{project}:{self.count}",
                str(folder),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.strip().splitlines()[-1]

    def remove(self) -> None:
        self.env.remove()
        shutil.rmtree(self.root, ignore_errors=True)
