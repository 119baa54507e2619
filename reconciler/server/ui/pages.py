"""``/ui/``: the dashboard's pages and forms.

Pages read through ``views`` (the API's own checks); the two actions (stop, roll back) are
the API calls themselves, made in-process with the session's token, so a button can do
exactly what ``rise`` could and nothing more.
"""

from __future__ import annotations

import functools
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from reconciler.render import RenderSettings
from reconciler.server.api._http import blocking, path_name, snapshot
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.ui import inproc, render, session, views
from reconciler.server.ui.diffs import diff_section
from reconciler.server.ui.filters import STATUSES, ProjectFilter
from reconciler.server.ui.kit import Pages, csrf_refused, redirect


def routes(ctx: ServerContext) -> list[BaseRoute]:
    kit = Pages(ctx)
    settings = functools.cache(lambda: RenderSettings.from_config(ctx.config))
    show, secure_cookie = kit.show, kit.secure_cookie

    async def index(request: Request) -> Response:
        return redirect("/ui/projects")

    async def sign_in_page(request: Request) -> Response:
        response = Response()
        session.ensure_signin_cookie(request, response, secure_cookie)
        page = show(request, "dashboard/sign_in.html", next=_next(request), error=None)
        page.raw_headers += [h for h in response.raw_headers if h[0] == b"set-cookie"]
        return page

    async def sign_in(request: Request) -> Response:
        fields = await render.form(request)
        if not session.csrf_ok(request, fields.get("csrf")):
            return show(request, "dashboard/error.html", 403, user=None, error=csrf_refused())
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
        wanted, problems = ProjectFilter.from_query(request.query_params)
        owners = sorted({row.owner for row in rows if row.owner})
        teams = {o.removeprefix("team:") for o in owners if o.startswith("team:")}
        teams |= {t.name for t in views.visible_teams(principal, snap)}
        return show(
            request,
            "dashboard/projects.html",
            user=principal,
            rows=wanted.apply(rows),
            total=len(rows),
            owners=owners,
            teams=sorted(teams),
            statuses=STATUSES,
            wanted=wanted,
            problems=problems,
        )

    async def project(request: Request, principal: Principal) -> Response:
        name = path_name(request, "project", "project name")
        data = await blocking(views.project_page, ctx, principal, name)
        return show(request, "dashboard/project.html", user=principal, page=data)

    async def deployment(request: Request, principal: Principal) -> Response:
        name = path_name(request, "project", "project name")
        wanted = str(request.path_params["deployment"])
        data = await blocking(views.deployment_page, ctx, settings(), principal, name, wanted)
        changes = data.manifests.changes if data.manifests else []
        return show(
            request,
            "dashboard/deployment.html",
            user=principal,
            page=data,
            d=data.info,
            sections=[diff_section(c.model_dump()) for c in changes if c.action != "unchanged"],
        )

    async def session_check(request: Request, principal: Principal) -> Response:
        """For a page whose event stream ended: answering renews an expired session from the
        refresh cookie (as any page does); no session: the sign-in redirect."""
        return render.secure(JSONResponse({"username": principal.username}))

    async def teams(request: Request, principal: Principal) -> Response:
        snap = await snapshot(ctx)
        shown = views.visible_teams(principal, snap)
        return show(request, "dashboard/teams.html", user=principal, teams=shown)

    async def stop(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name = path_name(request, "project", "project name")
        await inproc.call(request, "POST", f"/api/v1/projects/{name}/deployments/stop")
        return redirect(f"/ui/projects/{name}")

    async def rollback(request: Request, principal: Principal, fields: dict[str, str]) -> Response:
        name = path_name(request, "project", "project name")
        target = str(request.path_params["deployment"])
        path = f"/api/v1/projects/{name}/deployments/{quote(target)}/rollback"
        await inproc.call(request, "POST", path)
        return redirect(f"/ui/projects/{name}")

    return [
        Route("/ui", index, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Route("/ui/sign-in", sign_in_page, methods=["GET"]),
        Route("/ui/sign-in", sign_in, methods=["POST"]),
        Route("/ui/sign-out", kit.form_post(sign_out), methods=["POST"]),
        Route("/ui/projects", kit.signed_in(projects), methods=["GET"]),
        Route("/ui/projects/{project}", kit.signed_in(project), methods=["GET"]),
        Route("/ui/projects/{project}/stop", kit.form_post(stop), methods=["POST"]),
        Route(
            "/ui/projects/{project}/deployments/{deployment}",
            kit.signed_in(deployment),
            methods=["GET"],
        ),
        Route(
            "/ui/projects/{project}/deployments/{deployment}/rollback",
            kit.form_post(rollback),
            methods=["POST"],
        ),
        Route("/ui/teams", kit.signed_in(teams), methods=["GET"]),
        Route("/ui/session", kit.signed_in(session_check, counts=False), methods=["GET"]),
        Mount("/ui/static", StaticFiles(directory=render.STATIC), name="ui-static"),
    ]


def _next(request: Request) -> str:
    return safe_next(request.query_params.get("next"))


def safe_next(value: str | None) -> str:
    """Only a path on this server's dashboard: never an open redirect."""
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in parts.path:
        return "/ui/projects"
    return parts.path + (f"?{parts.query}" if parts.query else "")
