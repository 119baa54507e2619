"""``/api/v1/events``: the reconcile loop's status changes as server-sent events.

Each stream listens to the loop's ``StatusFeed`` only while it is open, so nobody watching
costs nothing. Every change is checked against what the viewer may see (the API's own
rule, at the current head) before it is sent: a private project's status never reaches
someone without access. ``Last-Event-ID`` replays what a reconnecting stream missed; when
that has left the feed's ring, the stream sends the current status of every project it
covers instead. Callers authenticate as for the API (Bearer) or with the dashboard session.

A stream lives no longer than the token it was opened with: it ends with a ``signed-out``
event when the token expires, or when a re-check (every few seconds, and before each
event) finds the user deleted or the password changed. The page then renews its session
from the refresh cookie and opens a new stream, or says it is signed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from reconciler.server.api._http import snapshot
from reconciler.server.api._views import project_row
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.tokens import TokenError
from reconciler.server.ui import session, views
from reconciler.state import Snapshot
from reconciler.status import Controller, ProjectStatus, StatusChange, StatusFeed
from schemas.names import name_problem

KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 5.0
_QUEUE = 1000


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        principal, credential = await _viewer(request, ctx)
        only = request.query_params.get("project") or None
        problem = name_problem(only, "project name") if only is not None else None
        if problem:
            raise ApiError(400, "invalid_name", problem, "e.g. /api/v1/events?project=my-app")
        feed = getattr(ctx.controller, "feed", None)  # a loop without one: keepalives only
        feed = feed if isinstance(feed, StatusFeed) else None
        stream = _stream(ctx, principal, credential, feed, only, _last_event_id(request))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    # A plain route, not in the OpenAPI document: a stream that never ends is no operation
    # for clients generated from it (or for the fuzzer that walks it).
    return [Route("/api/v1/events", events, methods=["GET"])]


class _Credential:
    """The token a stream was opened with, checked again while it runs."""

    def __init__(self, ctx: ServerContext, request: Request, token: str | None):
        self._ctx = ctx
        self._request = request
        self._token = token
        self.expires_at: float | None = None
        if token is not None:
            # A token of another issuer has no expiry here: the periodic re-check ends it.
            with contextlib.suppress(TokenError):
                self.expires_at = float(ctx.tokens.verify_access(token).expires_at)

    def seconds_left(self) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - self._ctx.clock().timestamp()

    async def problem(self) -> str | None:
        """Why the stream must end now, or None. Only tokens are re-checked: a Basic
        password is not hashed again every few seconds."""
        if self._token is None:
            return None
        left = self.seconds_left()
        if left is not None and left <= 0:
            return "the session expired"
        try:
            await session.token_principal(self._request, self._ctx, self._token)
        except ApiError as exc:
            return exc.message
        return None


async def _viewer(request: Request, ctx: ServerContext) -> tuple[Principal, _Credential]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme:
        principal = await ctx.authenticator.identify(request)
        token = value.strip() if scheme.lower() == "bearer" else None
        return principal, _Credential(ctx, request, token)
    found = await session.session_principal(request, ctx)
    if found is None:
        return await ctx.authenticator.identify(request), _Credential(ctx, request, None)
    return found, _Credential(ctx, request, session.session_token(request))


async def _stream(
    ctx: ServerContext,
    principal: Principal,
    credential: _Credential,
    feed: StatusFeed | None,
    only: str | None,
    after: int | None,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[StatusChange] = asyncio.Queue(_QUEUE)

    def deliver(change: StatusChange) -> None:
        if only is None or change.project == only:
            loop.call_soon_threadsafe(_offer, queue, change)

    stop = feed.listen(deliver) if feed is not None else None
    try:
        yield "retry: 2000\n\n"
        if after is not None and feed is not None:
            missed = feed.since(after)
            if missed is None:
                for line in await _current(ctx, principal, only):
                    yield line
            else:
                for old in missed:
                    if only is None or old.project == only:
                        queue.put_nowait(old)
        quiet = 0.0
        while True:
            left = credential.seconds_left()
            wait = RECHECK_SECONDS if left is None else max(0.0, min(RECHECK_SECONDS, left))
            change: StatusChange | None
            try:
                change = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                change = None
            why = await credential.problem()
            if why is not None:
                yield f"event: signed-out\ndata: {json.dumps({'reason': why})}\n\n"
                return
            if change is None:
                quiet += wait
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keepalive\n\n"
                continue
            quiet = 0.0
            snap = await snapshot(ctx)
            event = _event(ctx, principal, snap, change.project, change)
            if event is not None:
                yield event
    finally:
        if stop is not None:
            stop()


def _offer(queue: asyncio.Queue[StatusChange], change: StatusChange) -> None:
    if not queue.full():  # a reader this far behind gets the rest after it reconnects
        queue.put_nowait(change)


async def _current(ctx: ServerContext, principal: Principal, only: str | None) -> list[str]:
    snap = await snapshot(ctx)
    names = [only] if only is not None else sorted(snap.projects)
    return [e for name in names if (e := _event(ctx, principal, snap, name, None)) is not None]


def _event(
    ctx: ServerContext,
    principal: Principal,
    snap: Snapshot,
    project: str,
    change: StatusChange | None,
) -> str | None:
    """One SSE message for ``project``, or None when ``principal`` may not see it."""
    state = views.may_see(principal, snap, project)
    if state is None:
        return None
    if change is not None and change.desired:
        # The API's answer when the change was made (a new deployment is "deploying" then),
        # even if the loop has already moved on by now: the next change says where it went.
        ctx = replace(ctx, controller=_AsOf(ctx.controller, project, change.status))
    row = project_row(ctx, state)
    live = ctx.controller.status(project)
    about_row = live is not None and live.deployment_id == row.deployment_id
    data = {
        "project": project,
        "status": row.status,
        "reason": live.reason if live is not None and about_row else None,
        "deployment_id": row.deployment_id,
        "updated_at": live.updated_at.isoformat() if live is not None else None,
    }
    head = f"id: {change.seq}\n" if change is not None else ""
    return f"{head}event: status\ndata: {json.dumps(data)}\n\n"


class _AsOf:
    """The controller as it answered for ``project`` when a change was published."""

    def __init__(self, controller: Controller, project: str, status: ProjectStatus | None):
        self._controller = controller
        self._project = project
        self._status = status

    def status(self, project: str) -> ProjectStatus | None:
        return self._status if project == self._project else self._controller.status(project)

    def deployments(self, project: str) -> Mapping[str, ProjectStatus]:
        return self._controller.deployments(project)

    def signal(self, reason: str, projects: set[str] | None = None) -> None:
        self._controller.signal(reason, projects)

    def start(self) -> None:
        raise NotImplementedError("a view of the controller at one moment is never started")

    def stop(self, timeout: float) -> None:
        raise NotImplementedError("a view of the controller at one moment is never stopped")


def _last_event_id(request: Request) -> int | None:
    text = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None
