"""``/api/v1/reviews``: deployments waiting on a ``review/<project>/<id>`` branch.

List them (all the caller may see, or one project's), show one with the diff approving it
would apply, approve it (merged once it has the approvals its project asks for) or reject it
with a reason. The work is done by ``reconciler/server/reviewing.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.render import RenderSettings
from reconciler.server.api._access import visible_project
from reconciler.server.api._http import (
    blocking,
    caller,
    path_name,
    query_int,
    read_body,
    respond,
    snapshot,
)
from reconciler.server.authz import Access, Principal, project_access
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.openapi import ApiRoute, Operation, Query
from reconciler.server.reviewing import ReviewDesk, approvals_required
from reconciler.state.reviews import Review, list_reviews
from schemas.api import ReviewDetail, ReviewReject, ReviewRow
from schemas.deployment import DeploymentId

_TAG = "reviews"
_STATES = ("open", "stale", "rejected")
_ONE = "|".join(_STATES)
_MAX_LINES = 100_000
_REVIEW_ID: TypeAdapter[str] = TypeAdapter(DeploymentId)


def routes(ctx: ServerContext, settings: Callable[[], RenderSettings]) -> list[BaseRoute]:
    desk = ReviewDesk(ctx, settings)

    async def list_all(request: Request) -> Response:
        principal = await caller(request, ctx)
        wanted = _states(request)
        snap = await snapshot(ctx)
        rows = []
        for review in await blocking(list_reviews, ctx.store.repo, None):
            state = snap.projects.get(review.project)
            if state is None or state.project is None or review.state not in wanted:
                continue
            if project_access(principal, state.project, snap.teams.get) >= Access.READ:
                rows.append(desk.row(review, approvals_required(state)))
        return respond(rows)

    async def list_project(request: Request) -> Response:
        principal = await caller(request, ctx)
        name = path_name(request, "project", "project name")
        wanted = _states(request)
        state = await blocking(visible_project, ctx.store, principal, name)
        found = await blocking(list_reviews, ctx.store.repo, name)
        required = approvals_required(state)
        return respond([desk.row(r, required) for r in found if r.state in wanted])

    async def show(request: Request) -> Response:
        review, required, _ = await _review(request, Access.READ)
        max_lines = query_int(request, "max_lines", 0, 1, _MAX_LINES) or None
        return respond(await blocking(desk.detail, review, required, max_lines))

    async def approve(request: Request) -> Response:
        review, required, principal = await _review(request, Access.CHANGE)
        return respond(await blocking(desk.approve, principal, review, required))

    async def reject(request: Request) -> Response:
        review, required, principal = await _review(request, Access.CHANGE)
        body = await read_body(request, ReviewReject)
        return respond(await blocking(desk.reject, principal, review, body.reason, required))

    async def _review(request: Request, need: Access) -> tuple[Review, int, Principal]:
        principal = await caller(request, ctx)
        name = path_name(request, "project", "project name")
        review_id = _review_id(request)
        state = await blocking(visible_project, ctx.store, principal, name, need)
        review = await blocking(desk.find, name, review_id)
        return review, approvals_required(state), principal

    item = "/api/v1/reviews/{project}/{review}"
    states = {
        "state": Query(
            f"comma-separated: {', '.join(_STATES)} (default: open,stale)",
            {"type": "string", "pattern": f"^({_ONE})(,({_ONE}))*$"},
        )
    }
    return [
        ApiRoute(
            "/api/v1/reviews",
            list_all,
            "GET",
            Operation(
                "Deployments waiting for review, in every project you may see",
                response=ReviewRow,
                many=True,
                query=states,
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/projects/{project}/reviews",
            list_project,
            "GET",
            Operation(
                "One project's reviews",
                response=ReviewRow,
                many=True,
                query=states,
                errors=(404,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            item,
            show,
            "GET",
            Operation(
                "Who asked for what, when, and the diff approving it would apply (secrets masked)",
                response=ReviewDetail,
                query={
                    "max_lines": Query(
                        "summarise the diff per object past this many lines",
                        {"type": "integer", "minimum": 1, "maximum": _MAX_LINES},
                    )
                },
                errors=(404,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{item}/approve",
            approve,
            "POST",
            Operation(
                "Approve; with the approvals the project needs, merge onto main (CAS)",
                response=ReviewRow,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{item}/reject",
            reject,
            "POST",
            Operation(
                "Reject with a reason; it never reaches main",
                body=ReviewReject,
                response=ReviewRow,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
    ]


def _review_id(request: Request) -> str:
    value = str(request.path_params["review"])
    try:
        return _REVIEW_ID.validate_python(value)
    except ValidationError:
        raise ApiError(
            400,
            "invalid_review_id",
            f"review id {value!r} must look like '20261122-153012-ab12' (its deployment id)",
            "list reviews with 'rise review ls'",
        ) from None


def _states(request: Request) -> set[str]:
    text = request.query_params.get("state", "open,stale")
    wanted = text.split(",")
    unknown = [state for state in wanted if state not in _STATES]
    if unknown:
        raise ApiError(
            400,
            "invalid_query",
            f"unknown review state {unknown[0][:40]!r}",
            f"state is a comma-separated list of {', '.join(_STATES)}, e.g. ?state=open,stale",
        )
    return set(wanted)
