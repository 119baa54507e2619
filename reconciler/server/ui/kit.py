"""What every dashboard page and form does: render a template for the signed-in viewer (with
the pending-review count the navigation shows), send strangers to the sign-in page, renew
an expired session from its refresh cookie, and refuse a form post without its CSRF token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reconciler.server.api._http import blocking
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.login_pages import provider_links
from reconciler.server.ui import inproc, render, session, views

Handler = Callable[[Request], Awaitable[Response]]
PageFn = Callable[[Request, Principal], Awaitable[Response]]
FormFn = Callable[[Request, Principal, dict[str, str]], Awaitable[Response]]


class Pages:
    def __init__(self, ctx: ServerContext):
        self.ctx = ctx
        self.env = render.environment()
        self.secure_cookie = (ctx.config.public_url or "").startswith("https://")
        self._counts: dict[tuple[object, ...], int] = {}

    def show(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        values.setdefault("csrf", session.csrf_token(request))
        values.setdefault("providers", provider_links(self.ctx))
        values.setdefault("local", self.ctx.config.auth.local.enabled)
        values.setdefault("pending_reviews", getattr(request.state, "pending_reviews", None))
        return render.page(self.env, template, values, status)

    def signed_in(self, fn: PageFn, *, counts: bool = True) -> Handler:
        """A page for a signed-in user: to the sign-in page otherwise; API errors (404 for
        what the viewer may not see) become an error page with the same status. ``counts``:
        the page shows the navigation (with the count of pending reviews)."""
        ctx = self.ctx

        async def handler(request: Request) -> Response:
            principal = await session.session_principal(request, ctx)
            renewed = session.renew(request, ctx) if principal is None else None
            if renewed is not None:
                principal = renewed[0]
            if principal is None:
                # The query too: a shared link to a filtered page survives the sign-in.
                query = request.url.query
                target = quote(request.url.path + (f"?{query}" if query else ""), safe="/")
                return render.secure(RedirectResponse(f"/ui/sign-in?next={target}", 303))
            request.state.user = principal.username
            try:
                if counts and request.method == "GET":
                    request.state.pending_reviews = await self._pending(request, principal)
                response = await fn(request, principal)
            except ApiError as exc:
                response = self.show(
                    request, "dashboard/error.html", exc.status, user=principal, error=exc
                )
            if renewed is not None:  # the access token had expired: a new pair, as rise does
                session.start_session(response, renewed[1], self.secure_cookie)
            return response

        return handler

    def form_post(self, fn: FormFn) -> Handler:
        """A form's POST: refused (403) without this session's CSRF token."""

        async def page_fn(request: Request, principal: Principal) -> Response:
            fields = await render.form(request)
            if not session.csrf_ok(request, fields.get("csrf")):
                raise csrf_refused()
            return await fn(request, principal, fields)

        return self.signed_in(page_fn)

    async def _pending(self, request: Request, principal: Principal) -> int:
        """How many reviews wait (open or stale) in projects the viewer may see: the length of
        the API's list, which reads every review branch; kept until main or a review branch
        moves, so the navigation of every page does not pay for it again."""
        key = (principal, *await blocking(views.reviews_version, self.ctx))
        if key not in self._counts:
            if len(self._counts) > _COUNTS_KEPT:
                self._counts.clear()
            self._counts[key] = len(await inproc.call(request, "GET", "/api/v1/reviews"))
        return self._counts[key]


_COUNTS_KEPT = 1000


def redirect(path: str) -> Response:
    return render.secure(RedirectResponse(path, 303))


def csrf_refused() -> ApiError:
    return ApiError(
        403,
        "csrf_refused",
        "this form was not sent from a page of this dashboard (its CSRF token is missing or wrong)",
        "reload the page and try again",
    )
