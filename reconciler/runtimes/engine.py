"""The few Docker API calls the ``docker`` runtime makes, through the ``docker`` SDK.

Works against Docker and against ``podman system service`` alike. Every failure is one
``EngineError`` whose message says what was asked of which engine; ``conflict`` marks a
create whose name is taken (the runtime made that container before a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.runtimes.containers import LiveContainer

if TYPE_CHECKING:
    import docker


API_VERSION = "1.41"


class EngineError(Exception):
    def __init__(self, message: str, *, conflict: bool = False, missing: bool = False):
        super().__init__(message)
        self.conflict = conflict
        self.missing = missing


class Engine:
    """A Docker-API engine at ``host`` (``unix:///path`` or ``tcp://host:port``)."""

    def __init__(self, host: str, *, timeout: float = 60.0):
        self.host = host
        self.timeout = timeout
        self._client: docker.APIClient | None = None

    @property
    def api(self) -> docker.APIClient:
        if self._client is None:
            import docker  # 100 ms of imports: only when the runtime talks to an engine

            self._client = docker.APIClient(
                base_url=self.host, timeout=int(self.timeout), version="auto"
            )
        return self._client

    def ping(self) -> str:
        """The engine's name and version; EngineError when it does not answer."""
        version: dict[str, Any] = self._call("asking its version", lambda: self.api.version())
        components = version.get("Components") or [{}]
        return f"{components[0].get('Name') or 'Docker Engine'} {version.get('Version', '?')}"

    def containers(self, label: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call(
            "listing containers",
            lambda: self.api.containers(all=True, filters={"label": [label]}),
        )
        return items

    def find(self, name: str) -> LiveContainer | None:
        for item in self._call(
            f"looking up container {name}",
            lambda: self.api.containers(all=True, filters={"name": [f"^{name}$"]}),
        ):
            live = LiveContainer.of(item)
            if live is not None and live.name == name:
                return live
        return None

    def ensure_image(self, image: str, auth: Mapping[str, str] | None) -> None:
        """Pull ``image`` unless the engine has it already."""
        import docker.errors

        try:
            self.api.inspect_image(image)
            return
        except docker.errors.NotFound:
            pass
        except Exception as exc:
            raise self._error(f"inspecting image {image}", exc) from None
        self._call(
            f"pulling {image}",
            lambda: self.api.pull(image, auth_config=dict(auth) if auth else None),
        )

    def create(
        self,
        *,
        name: str,
        image: str,
        labels: Mapping[str, str],
        env: Mapping[str, str],
        entrypoint: list[str] | None,
        command: list[str] | None,
    ) -> str:
        def create() -> str:
            host_config = self.api.create_host_config(
                network_mode="host",
                restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
            )
            created = self.api.create_container(
                image,
                name=name,
                labels=dict(labels),
                environment=dict(env),
                entrypoint=entrypoint,
                command=command,
                host_config=host_config,
                detach=True,
            )
            return str(created["Id"])

        created: str = self._call(f"creating container {name}", create)
        return created

    def start(self, container_id: str) -> None:
        self._call(f"starting container {container_id[:12]}", lambda: self.api.start(container_id))

    def stop(self, container_id: str, grace: int = 10) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        self._call(
            f"stopping container {container_id[:12]}",
            lambda: self.api.stop(container_id, timeout=grace),
        )

    def remove(self, container_id: str) -> None:
        try:
            self._call(
                f"removing container {container_id[:12]}",
                lambda: self.api.remove_container(container_id, force=True),
            )
        except EngineError as exc:
            if not exc.missing:  # gone already is what we wanted
                raise

    def logs_tail(self, container_id: str, lines: int = 3) -> str:
        try:
            raw: bytes = self.api.logs(container_id, tail=lines)
        except Exception:  # the logs only decorate a reason; never fail over them
            return ""
        text = raw.decode(errors="replace").splitlines()
        return " | ".join(line.strip() for line in text if line.strip())

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:
            raise self._error(what, exc) from None

    def _error(self, what: str, exc: Exception) -> EngineError:
        import docker.errors

        if isinstance(exc, docker.errors.APIError):
            status = exc.status_code
            detail = exc.explanation or str(exc)
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            return EngineError(f"{what}: {detail}", conflict=status == 409, missing=status == 404)
        import requests

        if isinstance(exc, docker.errors.DockerException | OSError | requests.RequestException):
            return EngineError(f"{what}: the engine at {self.host} did not answer ({exc})")
        raise exc  # a bug of ours, not the engine's answer
