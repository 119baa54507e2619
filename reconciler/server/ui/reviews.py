"""``/ui/reviews``: deployments waiting for review, one review's diff, approve and reject.

Everything here is the reviews API called in-process with the session's token: the list and
the diff are exactly what ``rise review ls|show`` print, and a verdict button can do exactly
what ``rise review approve|reject`` could. What the page adds is saying *why* a button is not
there (the author cannot approve their own, a stale review cannot be merged, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.server.api._http import blocking, path_name
from reconciler.server.authz import Access, Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.ui import inproc, views
from reconciler.server.ui.diffs import diff_section
from reconciler.server.ui.kit import Pages, redirect
from schemas.api import ReviewDetail, ReviewRow


@dataclass(frozen=True)
class Verdicts:
    """Which verdict buttons the viewer gets, and why one is missing (shown beside it)."""

    may_act: bool
    approve: bool
    approve_why_not: str | None
    reject: bool


def routes(ctx: ServerContext) -> list[BaseRoute]:
    kit = Pages(ctx)

    async def listing(request: Request, principal: Principal) -> Response:
        rows = [ReviewRow.model_validate(r) for r in await inproc.call(request, "GET", _API)]
        return kit.show(
            request, "dashboard/reviews.html", user=principal, rows=rows, pending_reviews=len(rows)
        )

    async def one(request: Request, principal: Principal) -> Response:
        name, review_id = _target(request)
        try:
            found = await inproc.call(request, "GET", _api_path(name, review_id))
        except ApiError as exc:
            if exc.error == "review_merged":  # approved meanwhile: show what it became
                return redirect(_deployment_page(name, review_id))
            raise
        review = ReviewDetail.model_validate(found)
        access = await blocking(views.access_to, ctx, principal, name)
        return kit.show(
            request,
            "dashboard/review.html",
            user=principal,
            r=review,
            verdicts=verdicts(review, principal, access),
            sections=[diff_section(o) for o in review.objects if o.get("action") != "unchanged"],
            summary=_summary(review.diff),
        )

    async def by_id(request: Request, principal: Principal) -> Response:
        """``/ui/reviews/ID``, as ``rise review show ID`` takes it: the review of that id in
        the projects the viewer may see."""
        wanted = str(request.path_params["review"])
        for row in await inproc.call(request, "GET", f"{_API}?state=open,stale,rejected"):
            if row["id"] == wanted:
                return redirect(_page(row["project"], wanted))
        raise ApiError(
            404,
            "not_found",
            f"review {wanted!r} not found",
            "see the reviews waiting at /ui/reviews",
        )

    async def approve(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name, review_id = _target(request)
        row = await inproc.call(request, "POST", f"{_api_path(name, review_id)}/approve")
        if row.get("state") == "merged":
            return redirect(_deployment_page(name, review_id))
        return redirect(_page(name, review_id))

    async def reject(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name, review_id = _target(request)
        body = {"reason": fields.get("reason", "")}
        await inproc.call(request, "POST", f"{_api_path(name, review_id)}/reject", body)
        return redirect(_page(name, review_id))

    item = "/ui/reviews/{project}/{review}"
    return [
        Route("/ui/reviews", kit.signed_in(listing, counts=False), methods=["GET"]),
        Route("/ui/reviews/{review}", kit.signed_in(by_id), methods=["GET"]),
        Route(item, kit.signed_in(one), methods=["GET"]),
        Route(f"{item}/approve", kit.form_post(approve), methods=["POST"]),
        Route(f"{item}/reject", kit.form_post(reject), methods=["POST"]),
    ]


def verdicts(review: ReviewRow, principal: Principal, access: Access) -> Verdicts:
    """The reviews API's rules (``reconciler/server/reviewing.py``), to explain them up front;
    the API still decides when a button is pressed."""
    if access < Access.CHANGE:
        return Verdicts(False, False, None, False)
    if review.state == "rejected":
        return Verdicts(True, False, "it was rejected", False)
    why_not: str | None = None
    if principal.username == review.author:
        why_not = (
            "you asked for this review, so you cannot approve it: another member of the "
            "project's team (or an admin) does; you may withdraw it with Reject"
        )
    elif review.state == "stale":
        why_not = (
            f"it is stale: main has a newer deployment of {review.project} than the one it "
            "was opened against, and merging it would undo that; deploy again with --review"
        )
    elif principal.username in review.approvals:
        why_not = "you approved it already; it waits for another approver"
    return Verdicts(True, why_not is None, why_not, True)


_API = "/api/v1/reviews"


def _target(request: Request) -> tuple[str, str]:
    return path_name(request, "project", "project name"), str(request.path_params["review"])


def _api_path(project: str, review_id: str) -> str:
    return f"{_API}/{project}/{quote(review_id, safe='')}"


def _page(project: str, review_id: str) -> str:
    return f"/ui/reviews/{project}/{quote(review_id, safe='')}"


def _deployment_page(project: str, review_id: str) -> str:
    return f"/ui/projects/{project}/deployments/{quote(review_id, safe='')}"


def _summary(diff: str) -> str:
    lines = diff.strip().splitlines()
    return lines[-1] if lines else "no change"
