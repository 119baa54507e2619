"""Image references, and pinning them by digest through a registry's HTTP API."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cli.images import (
    BuildError,
    ImageReference,
    Retry,
    ServerCredentials,
    TransientError,
    parse_reference,
    pin_image,
    resolve_digest,
)
from tests.support.registry import (
    RegistryStack,
    ServerThread,
    free_port,
    push_manifest,
    registry_stack,
    user_token,
)

__all__ = ["registry_stack"]  # a fixture used below

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageReference("docker.io", "library/nginx", "latest")),
        ("nginx:1.25", ImageReference("docker.io", "library/nginx", "1.25")),
        ("team/app", ImageReference("docker.io", "team/app", "latest")),
        ("localhost/app:v1", ImageReference("localhost", "app", "v1")),
        ("127.0.0.1:5000/a/b:v_1.2-x", ImageReference("127.0.0.1:5000", "a/b", "v_1.2-x")),
        (f"reg.io/app@{DIGEST}", ImageReference("reg.io", "app", None, DIGEST)),
        (f"reg.io:443/app:v1@{DIGEST}", ImageReference("reg.io:443", "app", "v1", DIGEST)),
        ("[::1]:5000/app", ImageReference("[::1]:5000", "app", "latest")),
    ],
)
def test_parse_reference(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reg.io/App:v1", "is not a repository name"),
        ("reg.io/app:v1@sha256:abc", "sha256:<64"),
        ("reg.io/app:-v1", "tag '-v1'"),
        ("reg.io/../etc", "is not a repository name"),
        ("", "is not a repository name"),
        ("bad_host.io:x/app", "is not a registry"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(text)


def test_pinned_form_drops_the_tag() -> None:
    assert parse_reference(f"reg.io/app:v1@{DIGEST}").pinned == f"reg.io/app@{DIGEST}"
    with pytest.raises(ValueError, match="no digest"):
        _ = parse_reference("reg.io/app:v1").pinned


_component = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,6})?", fullmatch=True)
_host = st.from_regex(r"[a-z][a-z0-9]{0,8}\.[a-z]{2,4}(:[0-9]{2,5})?", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(
    host=_host,
    path=st.lists(_component, min_size=1, max_size=3).map("/".join),
    tag=st.none() | _tag,
    digest=st.none()
    | st.binary(min_size=1).map(lambda b: f"sha256:{hashlib.sha256(b).hexdigest()}"),
)
def test_references_round_trip(host: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = ImageReference(host, path, tag if tag or digest else "latest", digest)
    assert parse_reference(str(ref)) == ref


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_value_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ValueError:
        return
    assert parse_reference(str(ref)) == ref


# --- against the real registry ----------------------------------------------------------


def test_resolve_digest_with_the_project_login(registry_stack: RegistryStack) -> None:
    digest = push_manifest(registry_stack, "alice", "alpha", "resolve-me")
    creds = registry_stack.credentials("alice", "alpha", ["pull"])
    login = (creds["username"], creds["password"])
    ref = f"{registry_stack.registry.host}/alpha:resolve-me"
    pinned = resolve_digest(ref, login)
    assert pinned.digest == digest
    assert pinned.pinned == f"{registry_stack.registry.host}/alpha@{digest}"
    # A reference that is already pinned is checked, and comes back unchanged.
    assert resolve_digest(pinned.pinned, login).digest == digest


def test_resolve_digest_errors_are_precise(registry_stack: RegistryStack) -> None:
    push_manifest(registry_stack, "alice", "alpha", "exists")
    creds = registry_stack.credentials("alice", "alpha", ["pull"])
    login = (creds["username"], creds["password"])
    host = registry_stack.registry.host
    with pytest.raises(BuildError, match="alpha:missing not found"):
        resolve_digest(f"{host}/alpha:missing", login)
    with pytest.raises(BuildError, match="not found"):
        resolve_digest(f"{host}/alpha@{DIGEST}", login)
    with pytest.raises(BuildError, match="refused access"):
        resolve_digest(f"{host}/alpha:exists")  # anonymous
    with pytest.raises(BuildError, match="refused access"):
        resolve_digest(f"{host}/beta:exists", login)  # alpha's login, bob's project


def test_pin_image_uses_pull_credentials_of_the_project(registry_stack: RegistryStack) -> None:
    digest = push_manifest(registry_stack, "carol", "shared", "prebuilt")
    source = ServerCredentials(registry_stack.api_url, user_token("carol"))
    pinned = pin_image(f"{registry_stack.registry.host}/shared:prebuilt", "shared", source)
    assert pinned.pinned == f"{registry_stack.registry.host}/shared@{digest}"
    assert registry_stack.provider.issued[-1].repository == "shared"


# --- transient failures ------------------------------------------------------------------


class FlakyRegistry:
    """A registry front that fails ``failures`` times with 503, then serves one manifest."""

    def __init__(self, failures: int, send_digest: bool = True):
        self.failures = failures
        self.send_digest = send_digest
        self.calls = 0
        self.body = b'{"schemaVersion": 2}'

    async def manifest(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.failures:
            return Response("busy", status_code=503, headers={"Retry-After": "0.01"})
        headers = {"Docker-Content-Digest": DIGEST} if self.send_digest else {}
        return Response(self.body if request.method == "GET" else b"", headers=headers)


def _serve(flaky: FlakyRegistry) -> ServerThread:
    route = Route("/v2/app/manifests/{ref}", flaky.manifest, methods=["GET", "HEAD"])
    return ServerThread(Starlette(routes=[route])).start()


def test_transient_registry_errors_are_retried() -> None:
    flaky = FlakyRegistry(failures=2)
    server = _serve(flaky)
    delays: list[float] = []
    try:
        pinned = resolve_digest(f"127.0.0.1:{server.port}/app:v1", retry=Retry(sleep=delays.append))
    finally:
        server.stop()
    assert pinned.digest == DIGEST
    assert flaky.calls == 3
    assert delays == [0.01, 0.01]  # the server's Retry-After


def test_retries_give_up_with_the_last_error() -> None:
    flaky = FlakyRegistry(failures=10)
    server = _serve(flaky)
    try:
        with pytest.raises(TransientError, match="answered 503"):
            resolve_digest(
                f"127.0.0.1:{server.port}/app:v1", retry=Retry(attempts=3, sleep=lambda _: None)
            )
    finally:
        server.stop()
    assert flaky.calls == 3


def test_digest_is_computed_when_the_registry_omits_it() -> None:
    flaky = FlakyRegistry(failures=0, send_digest=False)
    server = _serve(flaky)
    try:
        pinned = resolve_digest(f"127.0.0.1:{server.port}/app:v1")
    finally:
        server.stop()
    assert pinned.digest == f"sha256:{hashlib.sha256(flaky.body).hexdigest()}"


def test_unreachable_registry_is_transient() -> None:
    with pytest.raises(TransientError, match="unreachable"):
        resolve_digest(f"127.0.0.1:{free_port()}/app:v1", retry=Retry(attempts=1))
