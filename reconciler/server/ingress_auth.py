"""``GET /auth/ingress?project=NAME``: forward auth for private apps (SPEC §6).

The ingress controller asks this endpoint before passing a request to a private project's app
(``nginx.ingress.kubernetes.io/auth-url``, see ``[kubernetes] forward_auth_url``), forwarding
the caller's ``Authorization`` header. 200 lets the request through; 401 asks for
credentials; 403 refuses. The answer never says whether a project exists.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from reconciler.server.api._access import head_reader, read_project, read_teams
from reconciler.server.api._http import blocking
from reconciler.server.authz import Access, project_access
from reconciler.server.context import ServerContext
from reconciler.server.openapi import ApiRoute, Operation
from schemas.names import name_problem

Reach = Literal["public", "allowed", "login", "refused"]


async def may_reach(ctx: ServerContext, request: Request, project: str) -> Reach:
    """Whether the caller of ``request`` may reach ``project``'s app: anyone for a public
    project (``public``); for a private one (or one that does not exist) a caller who may
    read it (``allowed``). ``login``: no or bad credentials; ``refused``: not this caller."""
    read = head_reader(ctx.store)
    state = await blocking(read_project, read, project)
    found = state.project if state is not None else None
    if found is not None and found.visibility == "public":
        return "public"
    principal = await ctx.authenticator.authenticate(request)
    if principal is None:
        return "login"
    if found is not None and project_access(principal, found, read_teams(read)) >= Access.READ:
        return "allowed"
    return "refused"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def ingress_auth(request: Request) -> Response:
        project = request.query_params.get("project", "")
        if name_problem(project, "project name"):
            return PlainTextResponse("missing or invalid ?project=", status_code=400)
        reach = await may_reach(ctx, request, project)
        if reach in ("public", "allowed"):
            return PlainTextResponse("ok")
        if reach == "login":
            return PlainTextResponse(
                "log in to rise and send your token",
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
                "Forward auth of private apps: 200 lets the request through, 401 asks for "
                "credentials, 403 refuses (plain text answers)",
                public=True,
                query={"project": "the project whose app is being reached"},
                media_type="text/plain",
                tag="operations",
            ),
        )
    ]
