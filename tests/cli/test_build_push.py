"""Build, push with rise-issued credentials, pull back by digest: all against real parts.

buildah/podman with private storage, the docker SDK over ``podman system service``, a real
distribution registry whose token auth is rise's registry routes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cli.config import Config, Profile, config_path
from cli.images import (
    BuildError,
    BuildOptions,
    BuiltImage,
    PushCredentials,
    Retry,
    ServerCredentials,
    TransientError,
    get_backend,
    plan_build,
    push_image,
    session_expiry_warning,
    temporary_login,
)
from cli.main import cli
from tests.support.containers import (
    ContainerEnv,
    container_env,
    containers,
    hello_context,
    podman_socket,
)
from tests.support.processes import process_tree
from tests.support.registry import (
    RegistryStack,
    ServerThread,
    free_port,
    registry_stack,
    user_token,
)

__all__ = ["containers", "podman_socket", "registry_stack"]  # fixtures used below


def _pull_and_read(stack: RegistryStack, root: Path, pinned: str, user: str, project: str) -> str:
    """Pull ``pinned`` into fresh, empty storage and read the page the image serves."""
    env = container_env(root, [stack.registry.host])
    try:
        creds = PushCredentials.from_json(stack.credentials(user, project, ["pull"]))
        with temporary_login(creds) as login:
            pulled = env.run(["podman", "pull", "--authfile", str(login.authfile), pinned])
        assert pulled.returncode == 0, pulled.stderr
        ran = env.run(["podman", "run", "--rm", pinned, "/bin/busybox", "cat", "/www/index.html"])
        assert ran.returncode == 0, ran.stderr
        return ran.stdout
    finally:
        env.remove()


class ProcessWatcher:
    """Records the argv and environment of a process tree while it runs."""

    def __init__(self, root: int):
        self.root = root
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ProcessWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid in process_tree(self.root):
                for part in ("cmdline", "environ"):
                    with contextlib.suppress(OSError):
                        self.seen.add(Path(f"/proc/{pid}/{part}").read_bytes())
            time.sleep(0.002)


def _files_containing(folder: Path, secrets: list[bytes]) -> list[Path]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
            data = path.read_bytes()
            if any(secret in data for secret in secrets):
                hits.append(path)
    return hits


def test_rise_build_push_with_buildah_pins_digest_and_leaks_no_credential(
    registry_stack: RegistryStack, containers: ContainerEnv, tmp_path: Path
) -> None:
    """Pushes as the profile 'rise login' stored (no RISE_URL/RISE_TOKEN)."""
    context = hello_context(tmp_path / "hello")
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    config_home = {"XDG_CONFIG_HOME": str(home / ".config")}
    Config.load(config_path(config_home)).put(
        Profile("default", registry_stack.api_url, access_token=user_token("alice"))
    )
    environ = {
        **containers.environ,
        **config_home,
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "NO_COLOR": "1",
    }
    for name in ("XDG_RUNTIME_DIR", "RISE_URL", "RISE_TOKEN", "RISE_PROFILE"):
        environ.pop(name, None)
    issued_before = len(registry_stack.provider.issued)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "build",
            str(context),
            "--backend",
            "buildah",
            "--push",
            "--project",
            "alpha",
            "--tag",
            "alpha:v1",
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with ProcessWatcher(process.pid) as watcher:
        stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr.decode()

    pinned = stdout.decode().strip().splitlines()[-1]
    assert pinned.startswith(f"{registry_stack.registry.host}/alpha@sha256:"), pinned
    assert len(pinned.rsplit(":", 1)[1]) == 64
    page = _pull_and_read(registry_stack, tmp_path / "puller", pinned, "alice", "alpha")
    assert page == (context / "www" / "index.html").read_text()

    issued = registry_stack.provider.issued[issued_before:]
    assert len(issued) == 3  # the check before the build, the push, then the pull above
    secrets = []
    for creds in issued[:2]:
        assert creds.password
        secrets += [creds.password.encode(), base64.b64encode(f"alice:{creds.password}".encode())]
    assert any(b"buildah\x00push" in seen for seen in watcher.seen), "the watcher saw no push"
    assert not [seen for seen in watcher.seen if any(s in seen for s in secrets)]
    assert not any(s in stdout + stderr for s in secrets)
    assert not any(s in registry_stack.registry.log.read_bytes() for s in secrets)
    assert not _files_containing(home, secrets)
    assert not _files_containing(scratch, secrets)
    assert not list(scratch.iterdir()), "temporary files were left behind"


def test_docker_sdk_over_podman_socket_builds_and_pushes(
    registry_stack: RegistryStack,
    containers: ContainerEnv,
    podman_socket: str,
    tmp_path: Path,
) -> None:
    context = hello_context(tmp_path / "hello")
    environ = {**containers.environ, "DOCKER_HOST": podman_socket}
    plan = plan_build(
        context, BuildOptions(backend="docker", tag="shared-sdk:v2", build_args=["A=b"]), environ
    )
    backend = get_backend(plan.backend, environ)
    lines: list[str] = []
    image = backend.build(plan.spec, lines.append)
    assert image.image_id and image.image_id.startswith("sha256:")

    pushed = push_image(
        backend,
        image,
        "shared",
        ServerCredentials(registry_stack.api_url, user_token("carol")),
        tag="v2",
        log=lines.append,
    )
    assert pushed.pinned.startswith(f"{registry_stack.registry.host}/shared@sha256:")
    # The digest is the one the engine reported for this push, not a later lookup.
    assert any(f"digest: {pushed.reference.digest}" in line for line in lines)
    page = _pull_and_read(registry_stack, tmp_path / "puller", pushed.pinned, "alice", "shared")
    assert page == (context / "www" / "index.html").read_text()
    creds = registry_stack.provider.issued[-2]  # the push's; the last one was the pull's
    assert creds.password and not any(creds.password in line for line in lines)


def test_push_errors_tell_transient_from_refused(
    registry_stack: RegistryStack, containers: ContainerEnv, tmp_path: Path
) -> None:
    built = containers.run(
        ["buildah", "bud", "-t", "localhost/refused:1", str(hello_context(tmp_path / "hello"))]
    )
    assert built.returncode == 0, built.stderr
    podman = get_backend("podman", containers.environ)
    image = BuiltImage("localhost/refused:1", None)
    creds = PushCredentials.from_json(registry_stack.credentials("alice", "alpha"))
    with temporary_login(creds) as login:
        with pytest.raises(BuildError) as refused:
            podman.push(image, f"{creds.registry}/beta:1", login, print)
        assert not isinstance(refused.value, TransientError)
        assert "denied" in str(refused.value)
        with pytest.raises(TransientError, match="connection refused"):
            podman.push(image, f"127.0.0.1:{free_port()}/alpha:1", login, print)


class FlakyApi:
    """A rise API that is overloaded ``failures`` times before it answers."""

    def __init__(self, failures: int):
        self.failures, self.calls = failures, 0
        self.actions: list[str] = []

    async def credentials(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.failures:
            return JSONResponse({"message": "busy"}, status_code=503)
        assert request.headers["authorization"] == "Bearer t0ken"
        self.actions = (await request.json())["actions"]
        return JSONResponse(
            {"registry": "r.io", "repository": "web", "username": "u", "password": "p4ssw0rd"}
        )


def test_server_credentials_retry_when_the_api_is_overloaded() -> None:
    api = FlakyApi(failures=2)
    route = Route("/api/v1/projects/{p}/registry-credentials", api.credentials, methods=["POST"])
    server = ServerThread(Starlette(routes=[route])).start()
    delays: list[float] = []
    try:
        source = ServerCredentials(server.url, "t0ken", retry=Retry(sleep=delays.append))
        creds = source("web", ("pull",))
    finally:
        server.stop()
    assert (creds.registry, creds.repository, creds.auth) == ("r.io", "web", ("u", "p4ssw0rd"))
    assert (api.calls, api.actions) == (3, ["pull"])
    assert delays == [0.5, 1.0]
    assert "p4ssw0rd" not in repr(creds)


def test_server_credentials_errors_carry_the_server_message(
    registry_stack: RegistryStack,
) -> None:
    source = ServerCredentials(registry_stack.api_url, user_token("mallory"))
    with pytest.raises(BuildError) as missing:
        source("alpha")
    assert "project 'alpha' not found (404)" in str(missing.value)
    assert "rise p ls" in str(missing.value)
    with pytest.raises(BuildError, match=r"\(401\)\n.*rise login"):
        ServerCredentials(registry_stack.api_url, "expired")("alpha")


def test_temporary_login_is_private_and_always_removed(tmp_path: Path) -> None:
    creds = PushCredentials("reg.io:5000", "web", "alice", "s3cret")
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    with temporary_login(creds, {"XDG_RUNTIME_DIR": str(runtime)}) as login:
        assert login.authfile is not None and login.authfile.parent.parent == runtime
        assert stat.S_IMODE(login.authfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(login.authfile.parent.stat().st_mode) == 0o700
        saved = json.loads(login.authfile.read_text())
        assert saved == {
            "auths": {"reg.io:5000": {"auth": base64.b64encode(b"alice:s3cret").decode()}}
        }
        assert login.auth_config == {
            "username": "alice", "password": "s3cret", "serveraddress": "reg.io:5000"
        }  # fmt: skip
        assert "s3cret" not in repr(login) + repr(creds)
    assert list(runtime.iterdir()) == []
    with pytest.raises(RuntimeError), temporary_login(creds, {"XDG_RUNTIME_DIR": str(runtime)}):
        raise RuntimeError("push interrupted")
    assert list(runtime.iterdir()) == []
    with temporary_login(PushCredentials("reg.io", "web")) as own:  # static provider
        assert own.authfile is None and own.auth_config is None


def _jwt(claims: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJFUzI1NiJ9.{payload}.sig"


def test_session_expiry_warning() -> None:
    now = 1_900_000_000
    assert session_expiry_warning(_jwt({"exp": now + 3600}), now) is None
    soon = session_expiry_warning(_jwt({"exp": now + 300}), now)
    assert soon is not None and "0:05:00" in soon and "rise login" in soon
    assert "has expired" in (session_expiry_warning(_jwt({"exp": now - 1}), now) or "")
    assert session_expiry_warning("not-a-jwt", now) is None
    assert session_expiry_warning(_jwt({"sub": "no exp"}), now) is None


def test_rise_build_push_needs_a_project_and_a_server(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\n")
    runner = CliRunner()
    no_project = runner.invoke(cli, ["build", str(folder), "--push", "--backend", "buildah"])
    assert no_project.exit_code == 1
    assert "--push needs a project" in no_project.output and "--project" in no_project.output
    bad_name = runner.invoke(cli, ["build", str(folder), "--push", "--project", "Web_1"])
    assert bad_name.exit_code == 1 and "project name 'Web_1'" in bad_name.output
    # Checked before building: no tool on PATH, yet the error is about the server.
    no_server = runner.invoke(
        cli,
        ["build", str(folder), "--push", "--project", "web", "--backend", "buildah"],
        env={
            "PATH": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "RISE_URL": None,
            "RISE_TOKEN": None,
            "RISE_PROFILE": None,
        },
    )
    assert no_server.exit_code == 2
    assert "no rise server is configured" in no_server.output
    assert "rise login URL" in no_server.output
    assert "Building" not in no_server.output
