"""``GET /auth/ingress?project=NAME``: forward auth for private apps (SPEC §6).

The ingress controller asks this endpoint before passing a request to a private project's app
(``nginx.ingress.kubernetes.io/auth-url``, see ``[kubernetes] forward_auth_url``), forwarding
the caller's headers. The caller is the apps' session cookie (``apps_session``: what a
browser has after signing in at ``/oauth/signin``) or, for API clients, a rise access token
as ``Authorization: Bearer``. Passwords are never taken here: HTTP Basic on every request
to an app would run the password hash (scrypt) and its lockout from any app's hostname.

200 lets the request through, with ``X-Auth-Request-User`` (and ``X-Auth-Request-Email``
when the user has one) for the app; 401 means "sign in" (nginx's ``auth-signin`` then sends
a browser to ``/oauth/signin``); 403 refuses. The answer never says whether a project exists.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from reconciler.server.api._access import head_reader, read_project, read_teams
from reconciler.server.api._http import blocking
from reconciler.server.apps_session import APPS_COOKIE, apps_principal
from reconciler.server.authz import Access, Principal, project_access
from reconciler.server.context import ServerContext
from reconciler.server.openapi import NAME_SCHEMA, ApiRoute, Operation, Query
from schemas.names import name_problem

Reach = Literal["public", "allowed", "login", "refused"]


async def app_caller(ctx: ServerContext, request: Request) -> Principal | None:
    """Who reaches an app: a Bearer token's owner, else the apps cookie's, else nobody.
    Any other ``Authorization`` (Basic) counts as none: it is the app's own business."""
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return await ctx.authenticator.authenticate(request)
    token = request.cookies.get(APPS_COOKIE)
    return apps_principal(ctx, token) if token else None


async def may_reach(ctx: ServerContext, request: Request, project: str) -> tuple[Reach, str | None]:
    """Whether the caller of ``request`` may reach ``project``'s app, and who they are:
    anyone for a public project (``public``); for a private one (or one that does not exist)
    a caller who may read it (``allowed``). ``login``: no or no valid session; ``refused``:
    not this caller."""
    read = head_reader(ctx.store)
    state = await blocking(read_project, read, project)
    found = state.project if state is not None else None
    if found is not None and found.visibility == "public":
        return "public", None
    principal = await app_caller(ctx, request)
    if principal is None:
        return "login", None
    request.state.user = principal.username
    if found is not None and project_access(principal, found, read_teams(read)) >= Access.READ:
        return "allowed", principal.username
    return "refused", principal.username


def identity_headers(ctx: ServerContext, username: str | None) -> dict[str, str]:
    """What the app learns of the person: their user name, and email when rise knows one."""
    if username is None:
        return {}
    headers = {"X-Auth-Request-User": username}
    email = getattr(ctx.users.get(username), "email", None)  # users signed in through OIDC
    if email:
        headers["X-Auth-Request-Email"] = str(email)
    return headers


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def ingress_auth(request: Request) -> Response:
        project = request.query_params.get("project", "")
        if name_problem(project, "project name"):
            return PlainTextResponse("missing or invalid ?project=", status_code=400)
        reach, username = await may_reach(ctx, request, project)
        if reach in ("public", "allowed"):
            return PlainTextResponse("ok", headers=identity_headers(ctx, username))
        if reach == "login":
            return PlainTextResponse(
                "sign in to rise (the ingress sends browsers to /oauth/signin)",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="rise"'},
            )
        return PlainTextResponse("forbidden", status_code=403)

    return [
        ApiRoute(
            "/auth/ingress",
            ingress_auth,
            "GET",
            Operation(
                "Forward auth of private apps, from the apps' session cookie or a Bearer "
                "token: 200 lets the request through (X-Auth-Request-User/Email), 401 asks to "
                "sign in at /oauth/signin, 403 refuses (plain text answers)",
                public=True,
                query={
                    "project": Query(
                        "the project whose app is being reached", NAME_SCHEMA, required=True
                    )
                },
                errors=(400, 401, 403),
                media_type="text/plain",
                tag="operations",
            ),
        )
    ]
