"""Push a built image with credentials fetched for this push only, and pin it by digest.

For every push the CLI asks the rise server for credentials
(``POST /api/v1/projects/{p}/registry-credentials``). They reach the backend through a
temporary auth file (buildah/podman ``--authfile``, mode 0600 in a private folder, removed
right after) or in memory (the docker SDK's ``auth_config``): never on a command line, never
in the user's own registry logins. A transient failure retries the whole step with fresh
credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from cli.images.backends import Backend, BuildError, BuiltImage, Log, Login, TransientError
from cli.images.reference import ImageReference, parse_reference, resolve_digest
from cli.images.retry import Retry, quiet, retry_after

if TYPE_CHECKING:
    from cli.client import Client

PUSH = ("pull", "push")
PULL = ("pull",)
SESSION_WARNING_SECONDS = 600


@dataclass(frozen=True)
class PushCredentials:
    """The server's answer: where the project's images go, and a short-lived login."""

    registry: str
    repository: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    expires_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushCredentials:
        try:
            return cls(
                registry=str(data["registry"]),
                repository=str(data["repository"]),
                username=data.get("username"),
                password=data.get("password"),
                expires_at=data.get("expires_at"),
            )
        except (KeyError, TypeError) as exc:
            raise BuildError(f"the server sent malformed registry credentials ({exc})") from None

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return self.username, self.password


class CredentialsSource(Protocol):
    def __call__(self, project: str, actions: tuple[str, ...] = PUSH) -> PushCredentials: ...


class ServerCredentials:
    """Fetches credentials from the rise server at ``url`` with the caller's rise ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        client: httpx.Client | None = None,
        retry: Retry | None = None,
        log: Log = quiet,
    ):
        self._url = url.rstrip("/")
        self._token = token
        self._client = client
        self._retry = retry or Retry()
        self._log = log

    def __call__(self, project: str, actions: tuple[str, ...] = PUSH) -> PushCredentials:
        return self._retry.call(lambda: self._fetch(project, actions), self._log)

    def _fetch(self, project: str, actions: tuple[str, ...]) -> PushCredentials:
        url = f"{self._url}/api/v1/projects/{project}/registry-credentials"
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            with ExitStack() as scope:  # one request per push: no connection worth keeping
                client = self._client or scope.enter_context(httpx.Client(timeout=30))
                response = client.post(url, json={"actions": list(actions)}, headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(f"rise server {self._url} unreachable: {exc}") from exc
        if response.status_code in (429, 502, 503, 504):
            raise TransientError(
                f"rise server answered {response.status_code} for registry credentials",
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        if response.status_code != 200:
            raise BuildError(_api_error(response, project))
        return PushCredentials.from_json(response.json())


def client_credentials(client: Client) -> CredentialsSource:
    """Registry credentials from the server, asked through the CLI's API client (its login,
    silent refresh and TLS settings) for each push or pull."""

    def fetch(project: str, actions: tuple[str, ...] = PUSH) -> PushCredentials:
        answer = client.post(
            f"/projects/{project}/registry-credentials", {"actions": list(actions)}
        )
        return PushCredentials.from_json(answer)

    return fetch


def _api_error(response: httpx.Response, project: str) -> str:
    try:
        body = response.json()
        message, hint = body.get("message"), body.get("hint")
    except (ValueError, AttributeError):
        message, hint = None, None
    text = f"registry credentials for {project!r}: {message or response.reason_phrase}"
    if response.status_code == 401:
        hint = hint or "log in again with 'rise login'"
    return f"{text} ({response.status_code})" + (f"\n{hint}" if hint else "")


@contextmanager
def temporary_login(
    creds: PushCredentials, environ: Mapping[str, str] = os.environ
) -> Iterator[Login]:
    """A login for one push; its auth file is gone when the block ends, whatever happens.

    The file lives in ``$XDG_RUNTIME_DIR`` (a per-user tmpfs: never on disk) when there is
    one, in a 0700 folder, mode 0600.
    """
    if creds.auth is None:  # the client's own login (static provider)
        yield Login()
        return
    username, password = creds.auth
    runtime = environ.get("XDG_RUNTIME_DIR")
    folder = Path(
        tempfile.mkdtemp(
            prefix="rise-auth-", dir=runtime if runtime and os.path.isdir(runtime) else None
        )
    )
    try:
        path = folder / "auth.json"
        secret = base64.b64encode(f"{username}:{password}".encode()).decode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"auths": {creds.registry: {"auth": secret}}}, handle)
        yield Login(
            authfile=path,
            auth_config={
                "username": username,
                "password": password,
                "serveraddress": creds.registry,
            },
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class PushedImage:
    reference: ImageReference  # pinned: registry/repository@sha256:…
    tag: str

    @property
    def pinned(self) -> str:
        return self.reference.pinned


def push_image(
    backend: Backend,
    image: BuiltImage,
    project: str,
    credentials: CredentialsSource,
    *,
    tag: str = "latest",
    retry: Retry | None = None,
    log: Log = quiet,
    environ: Mapping[str, str] = os.environ,
) -> PushedImage:
    """Push ``image`` to the project's repository as ``tag``; return it pinned by digest."""

    def attempt() -> PushedImage:
        creds = credentials(project, PUSH)
        destination = parse_reference(f"{creds.registry}/{creds.repository}:{tag}")
        log(f"Pushing container image to {creds.registry}...")
        with temporary_login(creds, environ) as login:
            digest = backend.push(image, str(destination), login, log)
        if digest is None:  # the backend could not tell: ask the registry
            digest = resolve_digest(destination, creds.auth, retry=Retry(attempts=1)).digest
        return PushedImage(
            ImageReference(destination.registry, destination.repository, None, digest), tag
        )

    return (retry or Retry()).call(attempt, log)


def pin_image(
    reference: str, project: str, credentials: CredentialsSource, *, retry: Retry | None = None
) -> ImageReference:
    """A pre-built image (``--image``) pinned by digest.

    An image in the project's rise registry is looked up with pull credentials for the
    project; any other image anonymously (public images).
    """
    ref = parse_reference(reference)
    creds = credentials(project, PULL)
    auth = creds.auth if ref.registry == creds.registry else None
    return resolve_digest(ref, auth, retry=retry)


def session_expiry_warning(token: str, now: float | None = None) -> str | None:
    """A warning when the rise session (a JWT) ends within 10 minutes, else None.

    Only the ``exp`` claim is read, unverified: the server checks the token; this only helps
    the user log in again before a long build fails half-way.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        remaining = float(claims["exp"]) - (time.time() if now is None else now)
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    if remaining > SESSION_WARNING_SECONDS:
        return None
    if remaining <= 0:
        return "your rise session has expired: run 'rise login' first"
    when = dt.timedelta(seconds=int(remaining))
    return f"your rise session expires in {when}: run 'rise login' soon to avoid a failed push"
