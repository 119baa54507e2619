"""Image references, and resolving one to its immutable digest over the registry HTTP API.

A deployment records ``registry/repository@sha256:<digest>``, never a tag: a tag can move,
a digest names exactly the bytes that were pushed. ``resolve_digest`` asks the registry
(``HEAD /v2/<repository>/manifests/<tag>``), following its ``Bearer`` challenge to the token
endpoint it names, like docker and buildah do.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass

import httpx

from cli.hosts import is_loopback
from cli.images.backends import BuildError, TransientError
from cli.images.retry import Retry, retry_after

DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_DOMAIN = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?$")
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def pinned(self) -> str:
        """``registry/repository@sha256:…``: what a deployment records."""
        if self.digest is None:
            raise ValueError(f"{self} has no digest")
        return f"{self.name}@{self.digest}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry/]repository[:tag][@sha256:digest]`` (Docker's grammar).

    A first component with a dot or a port, or ``localhost``, is a registry; otherwise the
    image is on Docker Hub (``nginx`` is ``docker.io/library/nginx``). No tag means ``latest``.
    """
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"image {text!r}: the digest must be sha256:<64 lower-case hex digits>")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    path, tag = _split_tag(path)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _DOMAIN.match(registry):
        raise ValueError(f"image {text!r}: {registry!r} is not a registry host[:port]")
    if not _PATH.match(path) or len(registry) + 1 + len(path) > MAX_NAME_LENGTH:
        raise ValueError(
            f"image {text!r}: {path!r} is not a repository name "
            "(lower-case letters, digits and separators . _ - between '/' parts)"
        )
    if tag is not None and not _TAG.match(tag):
        raise ValueError(f"image {text!r}: tag {tag!r} must match [A-Za-z0-9_][A-Za-z0-9_.-]*")
    if tag is None and not digest:
        tag = "latest"
    return ImageReference(registry, path, tag, digest or None)


def _split_tag(path: str) -> tuple[str, str | None]:
    # A colon after the last slash separates the tag (the registry's port is already gone).
    head, colon, tag = path.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return path, None


def resolve_digest(
    reference: str | ImageReference,
    auth: tuple[str, str] | None = None,
    *,
    client: httpx.Client | None = None,
    retry: Retry | None = None,
) -> ImageReference:
    """The reference pinned to the digest the registry serves for it now.

    ``auth`` is a (username, password) login for the registry's token endpoint; without it the
    anonymous token flow is used (public images).
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    owned = client is None
    http = client or httpx.Client(timeout=30, follow_redirects=True)
    try:
        digest = (retry or Retry()).call(lambda: _manifest_digest(http, ref, auth))
    finally:
        if owned:
            http.close()
    return ImageReference(ref.registry, ref.repository, ref.tag, digest)


def _manifest_digest(http: httpx.Client, ref: ImageReference, auth: tuple[str, str] | None) -> str:
    *fallbacks, last = _base_urls(ref.registry)
    try:
        for base in fallbacks:
            # A loopback registry may speak plain HTTP: try it when TLS cannot connect.
            with contextlib.suppress(httpx.ConnectError):
                return _digest_at(http, base, ref, auth)
        return _digest_at(http, last, ref, auth)
    except httpx.TransportError as exc:
        raise TransientError(f"registry {ref.registry} unreachable: {exc}") from exc


def _digest_at(
    http: httpx.Client, base: str, ref: ImageReference, auth: tuple[str, str] | None
) -> str:
    url = f"{base}/v2/{ref.repository}/manifests/{ref.digest or ref.tag}"
    response = _authorized(http, "HEAD", url, ref, auth)
    if response.status_code == 200 and not response.headers.get("docker-content-digest"):
        response = _authorized(http, "GET", url, ref, auth)  # the digest is the body's hash
    return _digest_of(response, ref)


def _base_urls(registry: str) -> list[str]:
    host = _DOCKER_HUB_API if registry == DOCKER_HUB else registry
    return [f"https://{host}", f"http://{host}"] if is_loopback(host) else [f"https://{host}"]


def _authorized(
    http: httpx.Client,
    method: str,
    url: str,
    ref: ImageReference,
    auth: tuple[str, str] | None,
) -> httpx.Response:
    headers = {"Accept": MANIFEST_TYPES}
    response = http.request(method, url, headers=headers)
    if response.status_code != 401:
        return response
    scheme, _, params = response.headers.get("www-authenticate", "").partition(" ")
    if scheme.lower() == "basic" and auth:
        return http.request(method, url, headers=headers, auth=auth)
    if scheme.lower() != "bearer":
        return response
    challenge = dict(_CHALLENGE_PARAM.findall(params))
    token = _bearer_token(http, challenge, ref, auth)
    return http.request(method, url, headers={**headers, "Authorization": f"Bearer {token}"})


def _bearer_token(
    http: httpx.Client,
    challenge: dict[str, str],
    ref: ImageReference,
    auth: tuple[str, str] | None,
) -> str:
    realm = challenge.get("realm")
    if not realm:
        raise BuildError(f"registry {ref.registry} sent a Bearer challenge without a realm")
    params = {"service": challenge.get("service", "")}
    params["scope"] = challenge.get("scope") or f"repository:{ref.repository}:pull"
    response = http.get(realm, params=params, auth=auth) if auth else http.get(realm, params=params)
    if response.status_code in (429, 502, 503, 504):
        raise TransientError(f"token endpoint {realm} answered {response.status_code}")
    if response.status_code != 200:
        raise BuildError(
            f"token endpoint {realm} refused access to {ref.name} ({response.status_code}): "
            "check the registry login (for rise projects: 'rise login')"
        )
    body = response.json()
    token = body.get("token") or body.get("access_token")
    if not isinstance(token, str):
        raise BuildError(f"token endpoint {realm} returned no token")
    return token


def _digest_of(response: httpx.Response, ref: ImageReference) -> str:
    status = response.status_code
    if status in (429, 500, 502, 503, 504):
        raise TransientError(
            f"registry {ref.registry} answered {status}",
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    if status == 404:
        raise BuildError(f"image {ref} not found: check the repository, tag or digest")
    if status in (401, 403):
        raise BuildError(
            f"registry {ref.registry} refused access to {ref.name} ({status}); "
            "log in or ask for pull access"
        )
    if status != 200:
        raise BuildError(f"registry {ref.registry} answered {status} for {ref}")
    digest = response.headers.get("docker-content-digest") or (
        f"sha256:{hashlib.sha256(response.content).hexdigest()}"
    )
    if not _DIGEST.match(digest) or (ref.digest and digest != ref.digest):
        raise BuildError(f"registry {ref.registry} returned digest {digest!r} for {ref}")
    return digest
