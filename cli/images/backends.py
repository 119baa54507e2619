"""Build backends: how an app folder becomes a container image, and how it leaves the machine.

- ``docker``: the ``docker`` SDK against any Docker-API engine (Docker, or ``podman system
  service`` with ``DOCKER_HOST=unix://...``);
- ``buildah``, ``podman``: daemonless builds into containers/storage;
- ``pack`` (buildpacks), ``nixpacks``, ``railpack``: the tools build into the Docker-API engine,
  which then pushes.

Every backend takes the process environment explicitly, so a caller (or a test) decides which
engine, storage and configuration it talks to. A missing tool is one ``ToolMissing`` error
saying what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from cli.hosts import is_loopback

Log = Callable[[str], None]

DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")
DEFAULT_BUILDER = "paketobuildpacks/builder-jammy-base"

# Output of a failed push or engine call that is worth another try with fresh credentials.
_TRANSIENT = re.compile(
    r"connection refused|connection reset|i/o timeout|timed? ?out|temporar(il)?y unavailable|"
    r"too ?many ?requests|\b(429|502|503|504)\b|unexpected EOF|server misbehaving",
    re.IGNORECASE,
)
# "<tag>: digest: sha256:<hex> size: <n>", the last status line of a Docker-API push.
_PUSHED_DIGEST = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})\b")


class BuildError(Exception):
    """A build or push failed; the message says what happened and what to do.

    ``shown`` is the end of the tool's output that the message repeats, when that output was
    also streamed to the user's log as it came.
    """

    def __init__(self, message: str, *, shown: str = ""):
        super().__init__(message)
        self.shown = shown

    def summary(self) -> str:
        """The message without the output the user has just seen, so it is printed once."""
        text = str(self)
        if self.shown and text.endswith(self.shown):
            return text[: -len(self.shown)].rstrip(":\n ") + "; its output is above"
        return text


class ToolMissing(BuildError):
    """The backend's tool (or engine) is not installed or not reachable."""


class TransientError(BuildError):
    """A failure that may pass on its own (network, registry overload): retry."""

    def __init__(self, message: str, retry_after: float | None = None, *, shown: str = ""):
        super().__init__(message, shown=shown)
        self.retry_after = retry_after


@dataclass(frozen=True)
class BuildSpec:
    """What to build: everything a backend needs, already resolved to absolute paths."""

    context: Path
    tag: str
    dockerfile: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    no_cache: bool = False
    builder: str | None = None
    buildpacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str | None


@dataclass(frozen=True)
class Login:
    """How a backend authenticates one push: a temporary auth file, or an in-memory config."""

    authfile: Path | None = None
    auth_config: dict[str, str] | None = field(default=None, repr=False)


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    def available(self) -> bool: ...

    def build(self, spec: BuildSpec, log: Log) -> BuiltImage: ...

    def push(self, image: BuiltImage, destination: str, login: Login, log: Log) -> str | None:
        """Push ``image`` to ``destination`` (``host/repo:tag``); the digest, when known."""
        ...


def _run(args: list[str], environ: Mapping[str, str], log: Log, what: str) -> None:
    """Run a tool, streaming its output to ``log``; raise BuildError (or Transient) on failure."""
    process = subprocess.Popen(
        args,
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: deque[str] = deque(maxlen=5)
    assert process.stdout is not None  # for the type checker: stdout=PIPE
    try:
        for line in process.stdout:
            log(line.rstrip("\n"))
            tail.append(line.rstrip("\n"))
        code = process.wait()
    except BaseException:
        # Ctrl-C (or any error here) ends the tool too: a push must not finish behind the
        # user's back after they were told it was interrupted.
        _stop(process)
        raise
    if code:
        detail = "\n".join(tail)
        error = TransientError if _TRANSIENT.search(detail) else BuildError
        message = f"{what} failed ({Path(args[0]).name} exited with {code}):\n{detail}"
        raise error(message, shown=detail)


def _stop(process: subprocess.Popen[str], grace: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _ShellTool:
    """A backend that is a command-line tool found on PATH."""

    name: ClassVar[str]
    tool: ClassVar[str]
    install: ClassVar[str]

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def available(self) -> bool:
        return self._which() is not None

    def _which(self) -> str | None:
        return shutil.which(self.tool, path=self._environ.get("PATH", os.defpath))

    def _executable(self) -> str:
        path = self._which()
        if path is None:
            raise ToolMissing(
                f"{self.tool} is not installed: the {self.name} backend needs it. "
                f"Install it: {self.install} — or choose another backend with --backend."
            )
        return path


class BuildahBackend(_ShellTool):
    """``buildah bud`` / ``buildah push``, into containers/storage."""

    name = "buildah"
    tool = "buildah"
    install = "apt-get install buildah (Debian/Ubuntu), dnf install buildah (Fedora)"
    build_verb: ClassVar[tuple[str, ...]] = ("bud",)

    def build_command(self, spec: BuildSpec, iidfile: Path) -> list[str]:
        args = [self.tool, *self.build_verb, "--iidfile", str(iidfile), "-t", spec.tag]
        if spec.dockerfile:
            args += ["-f", str(spec.dockerfile)]
        for key, value in spec.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        if spec.platform:
            args += ["--platform", spec.platform]
        if spec.no_cache:
            args.append("--no-cache")
        return [*args, str(spec.context)]

    def push_command(
        self, image: BuiltImage, destination: str, login: Login, digestfile: Path
    ) -> list[str]:
        args = [self.tool, "push", "--digestfile", str(digestfile)]
        if login.authfile:
            args += ["--authfile", str(login.authfile)]
        if is_loopback(destination.split("/", 1)[0]):
            # As Docker does: a registry on this machine may speak plain http (rise dev's).
            args.append("--tls-verify=false")
        return [*args, image.tag, f"docker://{destination}"]

    def build(self, spec: BuildSpec, log: Log) -> BuiltImage:
        with _scratch() as scratch:
            command = self.build_command(spec, scratch / "iid")
            command[0] = self._executable()
            _run(command, self._environ, log, f"building {spec.tag} with {self.name}")
            return BuiltImage(spec.tag, (scratch / "iid").read_text().strip() or None)

    def push(self, image: BuiltImage, destination: str, login: Login, log: Log) -> str | None:
        with _scratch() as scratch:
            command = self.push_command(image, destination, login, scratch / "digest")
            command[0] = self._executable()
            _run(command, self._environ, log, f"pushing {destination}")
            digest = scratch / "digest"
            return (digest.read_text().strip() if digest.exists() else "") or None


class PodmanBackend(BuildahBackend):
    """``podman build`` / ``podman push``: the same storage and flags as buildah."""

    name = "podman"
    tool = "podman"
    install = "apt-get install podman (Debian/Ubuntu), dnf install podman (Fedora)"
    build_verb = ("build",)


class DockerBackend:
    """The ``docker`` SDK against the engine ``DOCKER_HOST`` names (Docker or podman)."""

    name = "docker"
    install = (
        "a Docker-API engine: Docker (https://docs.docker.com/engine/install/) or podman "
        "('podman system service --time=0 unix:///tmp/podman.sock' and "
        "DOCKER_HOST=unix:///tmp/podman.sock)"
    )

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        self._client: Any = None

    def available(self) -> bool:
        try:
            self.client()
        except ToolMissing:
            return False
        return True

    def client(self) -> Any:
        if self._client is None:
            import docker
            from docker.errors import DockerException

            try:
                client = docker.from_env(environment=dict(self._environ), timeout=600)
                client.ping()
            except DockerException as exc:
                raise ToolMissing(
                    f"no Docker-API engine answers ({exc}). Start {self.install}."
                ) from None
            self._client = client
        return self._client

    def build(self, spec: BuildSpec, log: Log) -> BuiltImage:
        stream = self.client().api.build(
            path=str(spec.context),
            # Absolute: the SDK sends a Dockerfile from outside the context along with it.
            dockerfile=str(spec.dockerfile) if spec.dockerfile else None,
            tag=spec.tag,
            buildargs=dict(spec.build_args),
            platform=spec.platform,
            nocache=spec.no_cache,
            rm=True,
            decode=True,
        )
        image_id = None
        for event in self._events(stream, f"building {spec.tag} with docker", log):
            image_id = (event.get("aux") or {}).get("ID", image_id)
        return BuiltImage(spec.tag, image_id)

    def push(self, image: BuiltImage, destination: str, login: Login, log: Log) -> str | None:
        repository, _, tag = destination.rpartition(":")
        client = self.client()
        client.api.tag(image.image_id or image.tag, repository, tag)
        stream = client.api.push(
            repository, tag, auth_config=login.auth_config, stream=True, decode=True
        )
        digest = None
        for event in self._events(stream, f"pushing {destination}", log):
            # Docker sends an "aux" record; podman's Docker API only the status line.
            status = _PUSHED_DIGEST.search(event.get("status") or "")
            digest = (event.get("aux") or {}).get("Digest") or (status and status[1]) or digest
        return digest

    def _events(self, stream: Iterable[dict[str, Any]], what: str, log: Log) -> Iterator[dict]:
        from docker.errors import APIError

        try:
            for event in stream:
                if "error" in event or "errorDetail" in event:
                    message = event.get("error") or event["errorDetail"].get("message", "")
                    error = TransientError if _TRANSIENT.search(message) else BuildError
                    raise error(f"{what} failed: {message}")
                text = event.get("stream") or event.get("status")
                if text and text.strip():
                    log(text.rstrip("\n"))
                yield event
        except APIError as exc:
            error = TransientError if _TRANSIENT.search(str(exc)) else BuildError
            raise error(f"{what} failed: {exc.explanation or exc}") from exc


class _EngineTool(_ShellTool, ABC):
    """A tool that builds into the Docker-API engine; the engine pushes the result."""

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(environ)
        self.engine = DockerBackend(environ)

    @abstractmethod
    def command(self, spec: BuildSpec) -> list[str]:
        """The tool's command line for ``spec``."""

    def build(self, spec: BuildSpec, log: Log) -> BuiltImage:
        command = self.command(spec)
        command[0] = self._executable()
        _run(command, self._environ, log, f"building {spec.tag} with {self.name}")
        return BuiltImage(spec.tag, None)

    def push(self, image: BuiltImage, destination: str, login: Login, log: Log) -> str | None:
        return self.engine.push(image, destination, login, log)


def _env_flags(build_args: Mapping[str, str]) -> list[str]:
    return [arg for key, value in build_args.items() for arg in ("--env", f"{key}={value}")]


class PackBackend(_EngineTool):
    """Cloud Native Buildpacks through ``pack build``."""

    name = "pack"
    tool = "pack"
    install = "https://buildpacks.io/docs/for-platform-operators/how-to/integrate-ci/pack/"

    def command(self, spec: BuildSpec) -> list[str]:
        args = [self.tool, "build", spec.tag, "--path", str(spec.context)]
        args += ["--builder", spec.builder or DEFAULT_BUILDER]
        for buildpack in spec.buildpacks:
            args += ["--buildpack", buildpack]
        args += _env_flags(spec.build_args)
        if spec.platform:
            args += ["--platform", spec.platform]
        if spec.no_cache:
            args.append("--clear-cache")
        return args


class NixpacksBackend(_EngineTool):
    name = "nixpacks"
    tool = "nixpacks"
    install = "https://nixpacks.com/docs/install (curl -sSL https://nixpacks.com/install.sh | bash)"

    def command(self, spec: BuildSpec) -> list[str]:
        args = [self.tool, "build", str(spec.context), "--name", spec.tag]
        args += _env_flags(spec.build_args)
        if spec.platform:
            args += ["--platform", spec.platform]
        if spec.no_cache:
            args.append("--no-cache")
        return args


class RailpackBackend(_EngineTool):
    """``railpack build``; it needs a BuildKit daemon (``BUILDKIT_HOST``)."""

    name = "railpack"
    tool = "railpack"
    install = "https://railpack.com/installation (and a BuildKit daemon in BUILDKIT_HOST)"

    def command(self, spec: BuildSpec) -> list[str]:
        if spec.no_cache:
            raise BuildError("railpack has no --no-cache; drop --no-cache or use another backend")
        args = [self.tool, "build", str(spec.context), "--name", spec.tag]
        args += _env_flags(spec.build_args)
        if spec.platform:
            args += ["--platform", spec.platform]
        return args


BACKENDS: dict[str, Callable[[Mapping[str, str]], Backend]] = {
    "docker": DockerBackend,
    "podman": PodmanBackend,
    "buildah": BuildahBackend,
    "pack": PackBackend,
    "nixpacks": NixpacksBackend,
    "railpack": RailpackBackend,
}
ALIASES = {"buildpacks": "pack"}
# Auto-detection for a Dockerfile: the first of these that works on this machine.
DOCKERFILE_BACKENDS = ("docker", "podman", "buildah")


def get_backend(name: str, environ: Mapping[str, str]) -> Backend:
    return BACKENDS[ALIASES.get(name, name)](environ)


@contextmanager
def _scratch() -> Iterator[Path]:
    """A private temporary folder for files a tool writes back (image id, digest)."""
    folder = Path(tempfile.mkdtemp(prefix="rise-build-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
