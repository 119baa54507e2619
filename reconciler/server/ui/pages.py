"""``/ui/``: the dashboard's pages and forms.

Pages read through ``views`` (the API's own checks); the two actions (stop, roll back) are
the API calls themselves, made in-process with the session's token, so a button can do
exactly what ``rise`` could and nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from reconciler.server.api._http import blocking, path_name, snapshot
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.login_pages import provider_links
from reconciler.server.ui import render, session, views

Handler = Callable[[Request], Awaitable[Response]]
PageFn = Callable[[Request, Principal], Awaitable[Response]]
FormFn = Callable[[Request, Principal, dict[str, str]], Awaitable[Response]]

STATUSES = ("deploying", "running", "failed", "stopped", "unknown", "invalid")


def routes(ctx: ServerContext) -> list[BaseRoute]:
    env = render.environment()
    secure_cookie = (ctx.config.public_url or "").startswith("https://")

    def show(request: Request, template: str, status: int = 200, **values: Any) -> Response:
        values.setdefault("csrf", session.csrf_token(request))
        values.setdefault("providers", provider_links(ctx))
        values.setdefault("local", ctx.config.auth.local.enabled)
        return render.page(env, template, values, status)

    def signed_in(fn: PageFn) -> Handler:
        """A page for a signed-in user: to the sign-in page otherwise; API errors (404 for
        what the viewer may not see) become an error page with the same status."""

        async def handler(request: Request) -> Response:
            principal = await session.session_principal(request, ctx)
            renewed = session.renew(request, ctx) if principal is None else None
            if renewed is not None:
                principal = renewed[0]
            if principal is None:
                target = quote(request.url.path, safe="/")
                return render.secure(RedirectResponse(f"/ui/sign-in?next={target}", 303))
            request.state.user = principal.username
            try:
                response = await fn(request, principal)
            except ApiError as exc:
                response = show(
                    request, "dashboard/error.html", exc.status, user=principal, error=exc
                )
            if renewed is not None:  # the access token had expired: a new pair, as rise does
                session.start_session(response, renewed[1], secure_cookie)
            return response

        return handler

    def form_post(fn: FormFn) -> Handler:
        """A form's POST: refused (403) without this session's CSRF token."""

        async def page_fn(request: Request, principal: Principal) -> Response:
            fields = await render.form(request)
            if not session.csrf_ok(request, fields.get("csrf")):
                raise _csrf_refused()
            return await fn(request, principal, fields)

        return signed_in(page_fn)

    async def index(request: Request) -> Response:
        return render.secure(RedirectResponse("/ui/projects", 303))

    async def sign_in_page(request: Request) -> Response:
        response = Response()
        session.ensure_signin_cookie(request, response, secure_cookie)
        page = show(request, "dashboard/sign_in.html", next=_next(request), error=None)
        page.raw_headers += [h for h in response.raw_headers if h[0] == b"set-cookie"]
        return page

    async def sign_in(request: Request) -> Response:
        fields = await render.form(request)
        if not session.csrf_ok(request, fields.get("csrf")):
            return show(request, "dashboard/error.html", 403, user=None, error=_csrf_refused())
        error: str | None = None
        if not ctx.config.auth.local.enabled:
            error = "Username/password sign-in is turned off on this server."
        else:
            try:
                user = await ctx.authenticator.check_password(
                    request, fields.get("username", ""), fields.get("password", "")
                )
            except ApiError as exc:  # throttled or locked out
                error, user = exc.message, None
            if user is not None:
                pair = ctx.tokens.for_user(user)
                response = RedirectResponse(safe_next(fields.get("next")), 303)
                session.start_session(response, pair, secure_cookie)
                return render.secure(response)
            error = error or "Wrong username or password."
        return show(request, "dashboard/sign_in.html", 401, next=fields.get("next"), error=error)

    async def sign_out(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        response = RedirectResponse("/ui/sign-in", 303)
        session.end_session(response)
        return render.secure(response)

    async def projects(request: Request, principal: Principal) -> Response:
        snap = await snapshot(ctx)
        rows = views.visible_rows(ctx, principal, snap)
        owners = sorted({row.owner for row in rows if row.owner})
        wanted = {k: request.query_params.get(k, "").strip() for k in ("q", "status", "owner")}
        shown = [
            row
            for row in rows
            if wanted["q"].lower() in row.name.lower()
            and (not wanted["status"] or row.status == wanted["status"])
            and (not wanted["owner"] or row.owner == wanted["owner"])
        ]
        return show(
            request,
            "dashboard/projects.html",
            user=principal,
            rows=shown,
            total=len(rows),
            owners=owners,
            statuses=STATUSES,
            wanted=wanted,
        )

    async def project(request: Request, principal: Principal) -> Response:
        name = path_name(request, "project", "project name")
        data = await blocking(views.project_page, ctx, principal, name)
        return show(request, "dashboard/project.html", user=principal, page=data)

    async def deployment(request: Request, principal: Principal) -> Response:
        name = path_name(request, "project", "project name")
        wanted = str(request.path_params["deployment"])
        info, may_change = await blocking(views.deployment_page, ctx, principal, name, wanted)
        return show(
            request, "dashboard/deployment.html", user=principal, d=info, may_change=may_change
        )

    async def teams(request: Request, principal: Principal) -> Response:
        snap = await snapshot(ctx)
        shown = views.visible_teams(principal, snap)
        return show(request, "dashboard/teams.html", user=principal, teams=shown)

    async def stop(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name = path_name(request, "project", "project name")
        await _api(request, f"/api/v1/projects/{name}/deployments/stop")
        return render.secure(RedirectResponse(f"/ui/projects/{name}", 303))

    async def rollback(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name = path_name(request, "project", "project name")
        target = str(request.path_params["deployment"])
        await _api(request, f"/api/v1/projects/{name}/deployments/{quote(target)}/rollback")
        return render.secure(RedirectResponse(f"/ui/projects/{name}", 303))

    return [
        Route("/ui", index, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Route("/ui/sign-in", sign_in_page, methods=["GET"]),
        Route("/ui/sign-in", sign_in, methods=["POST"]),
        Route("/ui/sign-out", form_post(sign_out), methods=["POST"]),
        Route("/ui/projects", signed_in(projects), methods=["GET"]),
        Route("/ui/projects/{project}", signed_in(project), methods=["GET"]),
        Route("/ui/projects/{project}/stop", form_post(stop), methods=["POST"]),
        Route(
            "/ui/projects/{project}/deployments/{deployment}",
            signed_in(deployment),
            methods=["GET"],
        ),
        Route(
            "/ui/projects/{project}/deployments/{deployment}/rollback",
            form_post(rollback),
            methods=["POST"],
        ),
        Route("/ui/teams", signed_in(teams), methods=["GET"]),
        Mount("/ui/static", StaticFiles(directory=render.STATIC), name="ui-static"),
    ]


async def _api(request: Request, path: str) -> None:
    """POST ``path`` to this same app as the session's user; its error, if any, as ApiError."""
    token = session.session_token(request) or ""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        answer = await client.post(path, headers={"Authorization": f"Bearer {token}"})
    if answer.status_code >= 400:
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        body = answer.json() if is_json else {}
        raise ApiError(
            answer.status_code,
            str(body.get("error", "failed")),
            str(body.get("message", answer.text[:200])),
            body.get("hint"),
        )


def _csrf_refused() -> ApiError:
    return ApiError(
        403,
        "csrf_refused",
        "this form was not sent from a page of this dashboard (its CSRF token is missing or wrong)",
        "reload the page and try again",
    )


def _next(request: Request) -> str:
    return safe_next(request.query_params.get("next"))


def safe_next(value: str | None) -> str:
    """Only a path on this server's dashboard: never an open redirect."""
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in parts.path:
        return "/ui/projects"
    return parts.path
