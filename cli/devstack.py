"""The processes ``rise dev`` may start beside the server: a container engine, a registry.

- ``find_engine``: a Docker-API engine that answers — ``DOCKER_HOST``, the Docker socket, or
  a ``podman system service`` started here with rise's own configuration in the data dir
  (vfs storage, runc, host networking: it works without privileges a laptop may lack, and
  never creates a bridge network) — or why there is none.
- ``start_registry``: Debian's ``docker-registry`` (CNCF distribution) with token auth
  pointing at the rise server, storing images in the data dir.

Children are started with a parent-death signal, so a ``rise dev`` killed with SIGKILL does
not leave them behind; their pids are also recorded, and a later start stops (by pid, after
checking the command line) any that still run for the same data dir.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.runtimes.engine import Engine, EngineError

DOCKER_SOCKET = Path("/var/run/docker.sock")
_PIDS = "children.json"
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """A process ``rise dev`` started; stopped by its pid."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


@dataclass
class EngineChoice:
    """The engine the docker runtime uses (``host`` None: none answered; ``note`` says why)."""

    host: str | None
    note: str
    child: Child | None = None


def run_dir(data: Path) -> Path:
    """A short folder for sockets and podman's runroot: unix socket paths are limited to about
    100 bytes, and conmon stalls with long runroot paths, so not under a deep data dir."""
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:10]
    path = Path("/tmp") / f"rise-dev-{os.getuid()}-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def find_engine(data: Path, environ: Mapping[str, str], registry_host: str | None) -> EngineChoice:
    notes = []
    candidates = []
    if environ.get("DOCKER_HOST"):
        candidates.append(("DOCKER_HOST", environ["DOCKER_HOST"]))
    if DOCKER_SOCKET.exists():
        candidates.append(("the Docker socket", f"unix://{DOCKER_SOCKET}"))
    for what, host in candidates:
        try:
            version = Engine(host, timeout=5).ping()
        except EngineError as exc:
            notes.append(f"{what} ({host}) did not answer: {exc}")
            continue
        return EngineChoice(host, f"{version} at {host}")
    podman = shutil.which("podman", path=environ.get("PATH"))
    if podman is None:
        notes.append("podman is not installed (apt-get install podman) and no Docker answers")
        return EngineChoice(None, "; ".join(notes))
    try:
        child, host = _start_podman(podman, data, environ, registry_host)
    except RuntimeError as exc:
        notes.append(str(exc))
        return EngineChoice(None, "; ".join(notes))
    try:
        version = Engine(host, timeout=10).ping()
    except EngineError as exc:
        child.stop()
        notes.append(f"podman system service did not answer: {exc}")
        return EngineChoice(None, "; ".join(notes))
    return EngineChoice(host, f"{version} (podman system service started by rise dev)", child)


def _start_podman(
    podman: str, data: Path, environ: Mapping[str, str], registry_host: str | None
) -> tuple[Child, str]:
    folder = data / "podman"
    folder.mkdir(parents=True, exist_ok=True)
    run = run_dir(data)
    socket_path = run / "podman.sock"
    socket_path.unlink(missing_ok=True)
    env = dict(environ)
    env.update(_podman_config(folder, run, registry_host))
    child = start_child(
        "podman", [podman, "system", "service", "--time=0", f"unix://{socket_path}"], data, env
    )
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if child.process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"podman system service did not start; see {child.log}")
        time.sleep(0.05)
    return child, f"unix://{socket_path}"


def _podman_config(folder: Path, run: Path, registry_host: str | None) -> dict[str, str]:
    """containers-storage, containers.conf and registries.conf of rise's podman service; a
    user's own CONTAINERS_* variables win."""
    storage = folder / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{run}/run"\ngraphroot = "{folder}/storage"\n'
    )
    runtime = "runc" if shutil.which("runc") else "crun"
    containers = folder / "containers.conf"
    containers.write_text(
        "[containers]\n"
        'netns = "host"\n'
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
        "[engine]\n"
        f'runtime = "{runtime}"\n'
        f'tmp_dir = "{run}/tmp"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    registries = folder / "registries.conf"
    trusted = ""
    if registry_host:  # plain HTTP on loopback
        trusted = f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n'
    registries.write_text("unqualified-search-registries = []\n" + trusted)
    wanted = {
        "CONTAINERS_STORAGE_CONF": str(storage),
        "CONTAINERS_CONF": str(containers),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
    }
    return {key: os.environ.get(key, value) for key, value in wanted.items()}


def start_registry(data: Path, port: int, realm: str, service: str, issuer: str) -> Child | None:
    """``docker-registry`` on 127.0.0.1:``port`` trusting rise's token CA; None if missing."""
    binary = shutil.which("docker-registry")
    if binary is None:
        return None
    storage = data / "registry-data"
    storage.mkdir(exist_ok=True)
    config = data / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: {_http_secret(data)}}}\n"
        "auth:\n"
        f"  token: {{realm: '{realm}', service: {service}, issuer: {issuer},"
        f" rootcertbundle: {data / 'registry' / 'ca.pem'}}}\n"
    )
    child = start_child("registry", [binary, "serve", str(config)], data, dict(os.environ))
    _wait_for_port(port, child)
    return child


def _http_secret(data: Path) -> str:
    path = data / "registry-http-secret"
    if not path.exists():
        write_private(path, os.urandom(16).hex())
    return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")


def _wait_for_port(port: int, child: Child) -> None:
    import socket

    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            pass
        if child.process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"the registry did not start on port {port}; see {child.log}")
        time.sleep(0.05)


def start_child(name: str, args: list[str], data: Path, env: Mapping[str, str]) -> Child:
    log = data / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
        )
    _record(data, name, process.pid)
    return Child(name, process, log)


def _die_with_parent() -> None:
    # Not Linux: no prctl, and the recorded pids are the fallback.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _record(data: Path, name: str, pid: int) -> None:
    path = data / _PIDS
    pids = _recorded(data)
    pids[name] = pid
    path.write_text(json.dumps(pids))


def _recorded(data: Path) -> dict[str, int]:
    try:
        loaded = json.loads((data / _PIDS).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def stop_leftovers(data: Path) -> list[str]:
    """Stop children an earlier ``rise dev`` of this data dir left running (it was killed);
    only a pid whose command line still names this data dir is signalled."""
    stopped = []
    for name, pid in _recorded(data).items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(data) not in cmdline and str(run_dir(data)) not in cmdline:
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        stopped.append(f"{name} (pid {pid})")
    (data / _PIDS).unlink(missing_ok=True)
    return stopped


def remove_run_dir(data: Path, wait: float = 5.0) -> None:
    """Remove the run dir once no process uses it any more: after containers stop, conmon
    runs ``podman container cleanup`` in the background, which writes there."""
    run = run_dir(data)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _users_of(str(run)):
        time.sleep(0.1)
    shutil.rmtree(run, ignore_errors=True)


def _users_of(path: str) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if path in (proc / "cmdline").read_bytes().decode(errors="replace"):
                return True
        except OSError:
            continue
    return False
