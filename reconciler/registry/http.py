"""HTTP routes of registry token issuance (SPEC §6).

- ``GET /api/v1/registry/token?service=&scope=`` — the distribution token endpoint a registry
  points its clients at (``auth.token.realm``);
- ``GET /api/v1/registry/token-ca.pem`` — the CA bundle the registry trusts
  (``auth.token.rootcertbundle``);
- ``POST /api/v1/projects/{project}/registry-credentials`` — short-lived push credentials for
  one project, fetched by the CLI before each push.

The server supplies who the caller is (``authenticate``) and what they may do with a project
(``project_actions``); these routes never decide either on their own.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.registry.providers import CredentialsProvider, ProviderError
from reconciler.registry.tokens import (
    PROJECT_ACTIONS,
    IssuedToken,
    ScopeError,
    TokenIssuer,
    parse_scopes,
)
from schemas.names import name_problem

if TYPE_CHECKING:
    from reconciler.state import Snapshot


class Principal(Protocol):
    """The caller as the server's ``authenticate`` returns it; only the name is used here."""

    @property
    def username(self) -> str: ...


P = TypeVar("P", bound=Principal)
SnapshotSource = Callable[[], "Snapshot"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_LOGIN_HINT = (
    "log in with 'rise login', or use the password of 'rise build --push' credentials "
    "(POST /api/v1/projects/<project>/registry-credentials)"
)


def registry_routes(
    issuer: TokenIssuer,
    provider: CredentialsProvider,
    authenticate: Callable[[Request], Awaitable[P | None]],
    project_actions: Callable[[Snapshot, P, str], set[str]],
    snapshot_source: SnapshotSource,
) -> list[Route]:
    """The registry routes, wired to the server's authentication and authorization.

    ``authenticate(request)`` is the caller or None; ``project_actions(snapshot, caller,
    project)`` is a subset of {"pull", "push"}; ``snapshot_source()`` is the current state
    (called in a worker thread, so it may read git).
    """

    async def caller(request: Request) -> _Caller | None:
        """Who asks for a token, and what they may do; a push credential counts first."""
        credential = _basic_credential(request, issuer)
        if credential is not None:
            allowed = _credential_actions(credential, issuer)
            return _Caller(credential.subject, allowed, credential.expires_at)
        principal = await authenticate(request)
        if principal is None:
            return None
        snapshot = await run_in_threadpool(snapshot_source)
        return _Caller(principal.username, partial(project_actions, snapshot, principal), None)

    async def token(request: Request) -> Response:
        try:
            requested = parse_scopes(request.query_params.getlist("scope"))
        except ScopeError as exc:
            return _error(400, "invalid_scope", str(exc), "scope=repository:<name>:pull,push")
        who = await caller(request)
        if who is None:
            return _unauthorized(_LOGIN_HINT)
        if request.query_params.get("service") != issuer.service:
            requested = []  # a token for another registry: valid, but grants nothing here
        granted = issuer.grant(requested, who.allowed)
        issued = issuer.access_token(who.subject, granted, who.not_after)
        return JSONResponse(_token_body(issued), headers=_NO_STORE)

    async def token_ca(request: Request) -> Response:
        return Response(issuer.keys.ca_pem, media_type="application/x-pem-file")

    async def credentials(request: Request) -> Response:
        project = request.path_params["project"]
        problem = name_problem(project, "project name")
        if problem:
            return _error(400, "invalid_name", problem, "project names are RFC 1123 labels")
        principal = await authenticate(request)
        if principal is None:
            return _unauthorized("log in with 'rise login' or send a rise token as Bearer")
        wanted = await _wanted_actions(request)
        if isinstance(wanted, Response):
            return wanted
        snapshot = await run_in_threadpool(snapshot_source)
        permitted = project_actions(snapshot, principal, project) & set(PROJECT_ACTIONS)
        refused = _refusal(project, wanted, permitted)
        if refused is not None:
            return refused
        try:
            creds = await run_in_threadpool(
                provider.credentials, project, principal.username, wanted
            )
        except ProviderError as exc:
            return _error(
                502, "registry_unavailable", str(exc), "retry; if it persists, ask an operator"
            )
        return JSONResponse(creds.to_json(), headers=_NO_STORE)

    return [
        Route("/api/v1/registry/token", token, methods=["GET"], name="registry_token"),
        Route("/api/v1/registry/token-ca.pem", token_ca, methods=["GET"], name="registry_ca"),
        Route(
            "/api/v1/projects/{project}/registry-credentials",
            credentials,
            methods=["POST"],
            name="registry_credentials",
        ),
    ]


@dataclass(frozen=True)
class _Caller:
    subject: str
    allowed: Callable[[str], set[str]]  # project -> the actions the caller may do
    not_after: int | None  # no token outlives the credential it was asked with


def _basic_credential(request: Request, issuer: TokenIssuer) -> IssuedToken | None:
    """The push credential sent as the HTTP Basic password, when it is one of ours."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return issuer.read_credential(password) if password.count(".") == 2 else None


def _credential_actions(credential: IssuedToken, issuer: TokenIssuer) -> Callable[[str], set[str]]:
    repositories = {a.name: set(a.actions) for a in credential.access if a.type == "repository"}

    def allowed(project: str) -> set[str]:
        return repositories.get(issuer.repository(project), set())

    return allowed


async def _wanted_actions(request: Request) -> set[str] | Response:
    """``{"actions": ["pull"]}`` in the body narrows the request; the default is push + pull."""
    raw = await request.body()
    if not raw.strip():
        return set(PROJECT_ACTIONS)
    try:
        actions = json.loads(raw).get("actions")
    except (ValueError, AttributeError):
        return _error(
            400, "invalid_body", "the body must be a JSON object", '{"actions": ["pull"]}'
        )
    if (
        not isinstance(actions, list)
        or not actions
        or not all(a in PROJECT_ACTIONS for a in actions)
    ):
        return _error(
            400,
            "invalid_actions",
            f"actions must be a non-empty list of {list(PROJECT_ACTIONS)}, not {actions!r}",
            '{"actions": ["pull", "push"]}',
        )
    return set(actions)


def _refusal(project: str, wanted: set[str], permitted: set[str]) -> Response | None:
    if not permitted:
        # The same answer as for a project that does not exist: private names must not leak.
        return _error(
            404, "not_found", f"project {project!r} not found", "check the name with 'rise p ls'"
        )
    missing = sorted(wanted - permitted)
    if missing:
        return _error(
            403,
            "forbidden",
            f"you may {', '.join(sorted(permitted))} but not {', '.join(missing)} "
            f"images of project {project!r}",
            "ask an owner of the project to add you to its team",
        )
    return None


def _token_body(issued: IssuedToken) -> dict[str, object]:
    return {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": dt.datetime.fromtimestamp(issued.issued_at, dt.UTC).isoformat(),
    }


def _unauthorized(hint: str) -> Response:
    response = _error(401, "unauthorized", "authentication required", hint)
    response.headers["WWW-Authenticate"] = 'Basic realm="rise"'
    return response


def _error(status: int, error: str, message: str, hint: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "hint": hint}, status_code=status, headers=_NO_STORE
    )
