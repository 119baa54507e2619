"""``/api/v1/reviews``: deployments waiting on a ``review/<project>/<id>`` branch.

Listing works now; showing the diff, approving and rejecting arrive with the review feature
(they answer 501 until then, so a client can tell "not yet" from "not found").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.server.api._http import blocking, caller, respond, snapshot
from reconciler.server.authz import Access, project_access
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.openapi import ApiRoute, Operation
from schemas.api import ReviewRow

_TAG = "reviews"
Endpoint = Callable[[Request], Awaitable[Response]]
PREFIX = "review/"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def list_reviews(request: Request) -> Response:
        principal = await caller(request, ctx)
        snap = await snapshot(ctx)
        rows = []
        for branch in await blocking(ctx.store.repo.branches, PREFIX):
            project, _, review_id = branch.removeprefix(PREFIX).partition("/")
            state = snap.projects.get(project)
            if state is None or state.project is None or not review_id:
                continue
            if project_access(principal, state.project, snap.teams.get) >= Access.READ:
                rows.append(ReviewRow(project=project, id=review_id, branch=branch))
        return respond(rows)

    def not_yet(action: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            await caller(request, ctx)
            raise ApiError(
                501,
                "not_implemented",
                f"{action} reviews is not available on this server yet",
                "deploy without --review; the review feature adds show, approve and reject",
            )

        return endpoint

    item = "/api/v1/reviews/{project}/{review}"
    placeholder = Operation("Not available yet (501)", errors=(501,), tag=_TAG)
    return [
        ApiRoute(
            "/api/v1/reviews",
            list_reviews,
            "GET",
            Operation("Deployments waiting for review", response=ReviewRow, many=True, tag=_TAG),
        ),
        ApiRoute(item, not_yet("showing"), "GET", placeholder),
        ApiRoute(f"{item}/approve", not_yet("approving"), "POST", placeholder),
        ApiRoute(f"{item}/reject", not_yet("rejecting"), "POST", placeholder),
    ]
