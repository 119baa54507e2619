"""A real CNCF distribution registry whose token auth points at rise's registry routes.

``registry_stack`` (session-scoped) starts, on 127.0.0.1 only:

- rise's registry routes (``reconciler.registry.http``) in uvicorn, in a thread of the test
  process, with generated keys, a real state repository and the server's own
  ``project_actions``. Authentication is a stand-in for the server's (injected by design,
  like the real one): a rise token is ``<user>-token``;
- Debian's ``docker-registry`` (distribution 2.8) configured for token auth against it,
  stopped by pid at the end.

Projects: ``alpha`` (user:alice), ``beta`` (user:bob), ``shared`` (team:devs: alice owner,
carol member), ``open`` (user:bob, public: everyone may pull).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from reconciler.registry import OciTokenProvider, RegistryCredentials, SigningKeys, TokenIssuer
from reconciler.registry.http import registry_routes
from reconciler.server.authz import Principal, project_actions
from reconciler.state import Snapshot, StateRepo
from tests.support.tools import require_tool
from tests.support.waiting import free_port, wait_for_http

SERVICE = "rise-registry"
ISSUER = "rise"
USERS = ("alice", "bob", "carol", "mallory")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

STATE_FILES = {
    "projects/alpha/project.toml": 'owner = "user:alice"\nvisibility = "private"\n',
    "projects/beta/project.toml": 'owner = "user:bob"\nvisibility = "private"\n',
    "projects/shared/project.toml": 'owner = "team:devs"\nvisibility = "private"\n',
    "projects/open/project.toml": 'owner = "user:bob"\nvisibility = "public"\n',
    "teams/devs.toml": 'owners = ["alice"]\nmembers = ["carol"]\n',
}


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop one process we started, by its pid: TERM, then KILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def user_token(user: str) -> str:
    return f"{user}-token"


async def stub_authenticate(request: Request) -> Principal | None:
    """Bearer ``<user>-token``, or Basic with that token as the password."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        value = base64.b64decode(value).decode().partition(":")[2]
    elif scheme.lower() != "bearer":
        return None
    user = value.removesuffix("-token")
    return Principal(user) if user in USERS and value == user_token(user) else None


class ServerThread:
    """A uvicorn server for an ASGI app, in a thread of this process, on 127.0.0.1."""

    def __init__(self, app: Starlette, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass
class Registry:
    """A running ``docker-registry serve``."""

    host: str
    process: subprocess.Popen[bytes]
    log: Path
    data: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        stop_process(self.process)


def write_registry_config(
    workdir: Path, port: int, realm: str, rootcert: Path, service: str = SERVICE
) -> Path:
    data = workdir / "registry-data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: info, accesslog: {disabled: false}}\n"
        f"storage: {{filesystem: {{rootdirectory: {data}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: test-only}}\n"
        "auth:\n"
        f"  token: {{realm: '{realm}', service: {service}, issuer: {ISSUER},"
        f" rootcertbundle: {rootcert}}}\n"
    )
    return config


def start_registry(workdir: Path, realm: str, rootcert: Path, port: int | None = None) -> Registry:
    """Start distribution with token auth; return once it answers on ``/v2/``."""
    binary = require_tool("docker-registry", "apt-get install docker-registry")
    port = port or free_port()
    config = write_registry_config(workdir, port, realm, rootcert)
    log = workdir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
    registry = Registry(f"127.0.0.1:{port}", process, log, workdir / "registry-data")
    try:
        wait_for_http(f"{registry.url}/v2/", lambda r: r.status_code == 401, process, 15)
    except RuntimeError as exc:
        registry.stop()
        raise RuntimeError(
            f"docker-registry did not start ({exc}):\n{log.read_text()[-2000:]}"
        ) from None
    return registry


class RecordingProvider:
    """The real ``OciTokenProvider``, keeping what it handed out so tests can look for leaks."""

    name = "oci-token"

    def __init__(self, inner: OciTokenProvider):
        self._inner = inner
        self.issued: list[RegistryCredentials] = []

    def ensure_repository(self, project: str) -> None:
        self._inner.ensure_repository(project)

    def credentials(self, project: str, subject: str, actions: set[str]) -> RegistryCredentials:
        creds = self._inner.credentials(project, subject, actions)
        self.issued.append(creds)
        return creds


@dataclass
class RegistryStack:
    """rise's token routes + a registry trusting them; ``credentials()`` as the API returns."""

    issuer: TokenIssuer
    provider: RecordingProvider
    api: ServerThread
    registry: Registry
    state: StateRepo
    workdir: Path

    @property
    def api_url(self) -> str:
        return self.api.url

    def credentials(self, user: str, project: str, actions: list[str] | None = None) -> dict:
        response = httpx.post(
            f"{self.api.url}/api/v1/projects/{project}/registry-credentials",
            headers={"Authorization": f"Bearer {user_token(user)}"},
            json={"actions": actions} if actions else None,
        )
        response.raise_for_status()
        return dict(response.json())


def start_stack(workdir: Path, ttl: int = 300) -> RegistryStack:
    workdir.mkdir(parents=True, exist_ok=True)
    keys = SigningKeys.load_or_create(workdir / "keys")
    issuer = TokenIssuer(keys, service=SERVICE, issuer=ISSUER, ttl=ttl)
    state = StateRepo.init(
        workdir / "state.git", files={path: text.encode() for path, text in STATE_FILES.items()}
    )
    lock = threading.Lock()

    def snapshot() -> Snapshot:
        with lock:  # one pygit2 repository handle, shared by the threadpool
            return state.snapshot()

    registry_port = free_port()
    provider = RecordingProvider(OciTokenProvider(issuer, f"127.0.0.1:{registry_port}"))
    routes = registry_routes(issuer, provider, stub_authenticate, project_actions, snapshot)
    api = ServerThread(Starlette(routes=routes)).start()
    try:
        registry = start_registry(
            workdir,
            realm=f"{api.url}/api/v1/registry/token",
            rootcert=workdir / "keys" / "ca.pem",
            port=registry_port,
        )
    except BaseException:
        api.stop()
        raise
    return RegistryStack(issuer, provider, api, registry, state, workdir)


def push_manifest(stack: RegistryStack, user: str, project: str, tag: str) -> str:
    """Push a minimal image (a config blob and a manifest) over the registry HTTP API.

    Returns the manifest digest the registry reports. The registry token comes from rise's
    token endpoint, asked with the user's rise token.
    """
    token = registry_token(stack, user, f"repository:{project}:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{stack.registry.url}/v2/{project}"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Labels": {"tag": tag}},
        }
    ).encode()
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    upload = httpx.post(f"{base}/blobs/uploads/", headers=headers)
    upload.raise_for_status()
    location = httpx.URL(stack.registry.url).join(upload.headers["location"])
    httpx.put(
        location.copy_add_param("digest", config_digest), content=config, headers=headers
    ).raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    put = httpx.put(
        f"{base}/manifests/{tag}",
        content=manifest,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )
    put.raise_for_status()
    assert put.headers["docker-content-digest"] == f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    return str(put.headers["docker-content-digest"])


def registry_token(stack: RegistryStack, user: str, *scopes: str) -> str:
    """A registry token from rise's token endpoint, as a docker client would get one."""
    response = httpx.get(
        f"{stack.api_url}/api/v1/registry/token",
        params=[("service", SERVICE), *(("scope", s) for s in scopes)],
        auth=(user, user_token(user)),
    )
    response.raise_for_status()
    return str(response.json()["token"])


@pytest.fixture(scope="session")
def registry_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    stack = start_stack(tmp_path_factory.mktemp("registry"))
    try:
        yield stack
    finally:
        stack.registry.stop()
        stack.api.stop()
