"""The rise server as a Starlette app: ``create_app(ctx)``.

Routes come from one module per resource, each given the context it needs. Startup starts
the reconciler and the webhook refresher; shutdown (after uvicorn has drained the requests in
flight) closes the commit gate, then lets the in-flight reconcile finish.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from reconciler.registry.http import registry_routes
from reconciler.render import RenderSettings
from reconciler.server import (
    apps_session,
    authorize,
    git_http,
    ingress_auth,
    login_pages,
    oidc_pages,
    openapi,
    ui,
    webhooks,
)
from reconciler.server.api import (
    auth,
    deployment_details,
    deployments,
    env,
    projects,
    reviews,
    service_accounts,
    teams,
)
from reconciler.server.auth import authenticate
from reconciler.server.authz import project_actions
from reconciler.server.context import ServerContext
from reconciler.server.door import BodyDoor
from reconciler.server.errors import EXCEPTION_HANDLERS, internal_error
from reconciler.server.forges import build_forge
from reconciler.server.logs import RequestLog
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.proxy import AppProxy
from reconciler.server.pull_requests import PullRequestReviewer
from reconciler.server.reviewing import live_reader
from reconciler.state import StateError
from schemas.api import Health, VersionInfo

log = logging.getLogger("rise.server")

SHUTDOWN_TIMEOUT = 30.0
"""Seconds shutdown waits for in-flight commits, then for the in-flight reconcile."""


def create_app(ctx: ServerContext, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app of the rise server.

    ``extra_routes`` is the mount point for routes other modules serve on the same port. The
    registry's token and credentials endpoints are always mounted, deciding with this server's
    ``authenticate`` and ``project_actions``.
    """
    refresher = webhooks.Refresher(ctx.store.repo, ctx.signal, ctx.config.state.poll_seconds)
    settings = functools.cache(lambda: RenderSettings.from_config(ctx.config))
    reviewer = _pull_request_reviewer(ctx, settings)
    version = _version()
    started = threading.Event()
    sessions = login_pages.Sessions()  # the login page's, shared by every sign-in it serves
    codes = authorize.AuthorizationCodes(ctx.config.auth.browser.code_ttl)
    handoffs = apps_session.Handoffs()
    routes: list[BaseRoute] = [
        *_operations(ctx, version, started),
        Route("/api/v1/openapi.json", _openapi(lambda: app.routes, version), methods=["GET"]),
        *auth.routes(ctx),
        *projects.routes(ctx),
        *teams.routes(ctx),
        *deployments.routes(ctx),
        *deployment_details.routes(ctx, settings),
        *env.routes(ctx),
        *service_accounts.routes(ctx),
        *reviews.routes(ctx, settings),
        *webhooks.routes(ctx, refresher, reviewer),
        *git_http.routes(ctx, refresher.request),
        *ingress_auth.routes(ctx),
        *ui.routes(ctx),
        *login_pages.routes(
            ctx,
            login_pages.device_flow(ctx),
            sessions,
            {authorize.AUTHORIZATION_CODE: codes.redeem},
        ),
        *authorize.routes(ctx, codes, sessions),
        *apps_session.routes(ctx, sessions, handoffs),
        *oidc_pages.routes(ctx, sessions),
        *registry_routes(
            ctx.registry_issuer, ctx.registry, authenticate, project_actions, ctx.store.snapshot
        ),
        *extra_routes,
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.controller.start()
        refresher.start()
        if reviewer is not None:
            reviewer.start()
        started.set()
        log.info("rise server ready", extra={"state": ctx.store.repo.path, "version": version})
        try:
            yield
        finally:
            log.info("rise server shutting down")
            if not await run_in_threadpool(ctx.store.close, SHUTDOWN_TIMEOUT):
                log.error("state-repo commits still running after %ss", SHUTDOWN_TIMEOUT)
            await run_in_threadpool(refresher.stop, SHUTDOWN_TIMEOUT)
            if reviewer is not None:
                await run_in_threadpool(reviewer.stop, SHUTDOWN_TIMEOUT)
            await run_in_threadpool(ctx.controller.stop, SHUTDOWN_TIMEOUT)
            log.info("rise server stopped")

    # With the docker runtime, requests for app hosts go to the apps (reconciler/server/proxy.py).
    proxy = (
        [Middleware(AppProxy, ctx=ctx, routes=ctx.routes, handoffs=handoffs)]
        if ctx.routes is not None
        else []
    )
    app = Starlette(
        routes=routes,
        middleware=[
            *proxy,
            Middleware(
                RequestLog,
                metrics=ctx.metrics,
                route_of=_route_namer(routes),
                internal_error=internal_error,
            ),
            Middleware(BodyDoor, routes=lambda: app.routes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.authenticator = ctx.authenticator
    return app


def _pull_request_reviewer(
    ctx: ServerContext, settings: Callable[[], RenderSettings]
) -> PullRequestReviewer | None:
    forge = ctx.config.forge
    if forge is None:
        return None
    if not ctx.forge_token:
        log.error("[forge] token_env %s is not set: pull requests get no comments", forge.token_env)
        return None
    return PullRequestReviewer(
        ctx.store.repo,
        build_forge(forge, ctx.forge_token),
        settings,
        ctx.secrets,
        max_lines=forge.comment_max_lines,
        read_live=live_reader(ctx.controller),
    )


def _operations(ctx: ServerContext, version: str, started: threading.Event) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        return _json(Health(status="ok"))

    async def readyz(request: Request) -> Response:
        if ctx.store.closed:
            return _json(Health(status="unavailable", reason="shutting down"), 503)
        if not started.is_set():
            return _json(Health(status="unavailable", reason="starting"), 503)
        try:
            await run_in_threadpool(ctx.store.repo.head)
        except StateError as exc:
            reason = f"state repository unreadable: {exc}"
            return _json(Health(status="unavailable", reason=reason), 503)
        problem = await run_in_threadpool(ctx.store.repo.write_problem)
        if problem is not None:
            reason = f"state repository cannot take commits: {problem}"
            return _json(Health(status="unavailable", reason=reason), 503)
        return _json(Health(status="ok"))

    async def version_info(request: Request) -> Response:
        return _json(VersionInfo(version=version))

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4")

    def public(summary: str, **options: Any) -> Operation:
        return Operation(summary, public=True, tag="operations", **options)

    return [
        ApiRoute("/healthz", healthz, "GET", public("Alive", response=Health)),
        ApiRoute(
            "/readyz",
            readyz,
            "GET",
            public("Ready for traffic", response=Health, errors=(503,)),
        ),
        ApiRoute("/version", version_info, "GET", public("Version", response=VersionInfo)),
        ApiRoute("/metrics", metrics, "GET", public("Prometheus metrics", media_type="text/plain")),
    ]


def _openapi(
    routes: Callable[[], Sequence[BaseRoute]], version: str
) -> Callable[[Request], Awaitable[Response]]:
    """The document is built on first request, when every route (extra ones too) is known."""
    document: dict[str, Any] = {}

    async def openapi_json(request: Request) -> Response:
        if not document:
            document.update(openapi.document(routes(), version))
        return JSONResponse(document)

    return openapi_json


def _route_namer(routes: Sequence[BaseRoute]) -> Callable[[Scope], str]:
    """Metric label of a request: its route's path template, never the concrete path."""
    templates = {route.endpoint: route.path for route in routes if isinstance(route, Route)}

    def route_of(scope: Scope) -> str:
        endpoint = scope.get("endpoint")
        return templates.get(endpoint, "unmatched") if endpoint else "unmatched"

    return route_of


def _json(body: Health | VersionInfo, status: int = 200) -> Response:
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status)


def _version() -> str:
    try:
        return importlib.metadata.version("rise-deploy")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
