"""The host-routing proxy of the ``docker`` runtime: ``http://<project>.localhost:<port>``.

The server answers every request whose Host names an app — ``<project>.localhost``, or
``<project>.<domain>`` when ``app_url_template`` is ``<scheme>://{project}.<domain>...`` —
by forwarding it to the container the runtime routes that project to (``Routes``); any other
Host reaches the rise API as before. Bodies stream both ways (httpx), so uploads and long
responses are never held in memory.

- Private projects: the same check as ingress forward auth (``ingress_auth.may_reach``): the
  apps' session cookie, or a Bearer token. A browser without a session is sent to sign in at
  ``/oauth/signin``, which comes back through ``/.rise/session`` on the app's host (a one-time
  ticket the proxy turns into a host-only cookie: ``apps_session``). The cookie and the token
  are taken off the request before the app sees it; the app gets ``X-Auth-Request-User``
  (never one a client sent).
- The route is looked up and counted in flight in one step, so a blue/green switch is atomic:
  a request goes wholly to the old container or wholly to the new one, and the old one is
  removed only when no request is left on it.
- No route: a 503 page that says whether the app is stopped, failed (and why) or starting.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.runtimes.routes import Routes
from reconciler.server.apps_session import (
    APPS_COOKIE,
    HANDOFF_PATH,
    Handoffs,
    app_domains,
    set_apps_cookie,
    signin_url,
)
from reconciler.server.context import ServerContext
from reconciler.server.ingress_auth import Reach, identity_headers, may_reach
from schemas.names import name_problem

log = logging.getLogger("rise.proxy")

_PUBLIC_CACHE = 10_000

# Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's own, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def project_of(host_header: str, domains: tuple[str, ...]) -> str | None:
    """The project a Host header names, or None when it names no app."""
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    label, _, domain = host.lower().rstrip(".").partition(".")
    if domain not in domains or name_problem(label, "project name"):
        return None
    return label


class AppProxy:
    """ASGI middleware: app hosts go to the app's container, the rest to ``app``."""

    def __init__(self, app: ASGIApp, ctx: ServerContext, routes: Routes, handoffs: Handoffs):
        self.app = app
        self.ctx = ctx
        self.routes = routes
        self.handoffs = handoffs
        self.domains = app_domains(ctx.config.app_url_template, proxied=True)
        self._client: httpx.AsyncClient | None = None
        self._public: dict[str, str | None] = {}
        """Project -> the state commit at which it was found public."""
        # httpx logs every request at INFO: one line per proxied request would drown the log.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        project = None
        if scope["type"] == "http":
            project = project_of(Headers(scope=scope).get("host", ""), self.domains)
        if project is None:
            await self.app(scope, receive, send)
            return
        await self._serve(project, scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def _serve(self, project: str, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if scope["path"] == HANDOFF_PATH:
            await self._handoff(request, send)
            return
        reach, username = await self._reach(project, request)
        if reach == "login":
            await self._sign_in(project, request, send)
            return
        if reach == "refused":
            await _page(send, 404, "No such app", f"There is no app at {project}.")
            return
        with self.routes.use(project) as upstream:
            if upstream is None:
                await self._unavailable(project, send)
                return
            # A Bearer token was rise's, for this check: the app never sees it.
            bearer = request.headers.get("authorization", "")[:7].lower() == "bearer "
            strip = reach == "allowed" and bearer
            added = identity_headers(self.ctx, username) if reach == "allowed" else {}
            await self._forward(
                upstream.address, scope, receive, send, strip_auth=strip, identity=added
            )

    async def _sign_in(self, project: str, request: Request, send: Send) -> None:
        """A browser (GET) goes to rise's sign-in; anything else is told to sign in."""
        if request.method in ("GET", "HEAD"):
            back = str(request.url)
            location = signin_url(self.ctx, back)
            await _page(
                send,
                303,
                "Sign in to see this app",
                f"{project} is private: sign in to rise first.",
                {"location": location},
            )
            return
        await _page(
            send,
            401,
            "Sign in to see this app",
            f"{project} is private: sign in to rise in a browser, or send a rise token.",
            {"www-authenticate": 'Bearer realm="rise"'},
        )

    async def _handoff(self, request: Request, send: Send) -> None:
        """Turn the sign-in's one-time ticket into this host's session cookie."""
        ticket = parse_qs(request.url.query).get("ticket", [""])[0]
        found = self.handoffs.redeem(ticket, request.url.hostname or "")
        if found is None:
            await _page(
                send,
                400,
                "Sign-in link expired",
                "This sign-in link is used up or too old; open the app again.",
            )
            return
        response = Response(status_code=303, headers={"location": found.target})
        secure = request.url.scheme == "https"
        set_apps_cookie(response, found.token, self.ctx.config.auth.apps.ttl, secure)
        response.headers["cache-control"] = "no-store"
        await response({"type": "http"}, _nothing, send)

    async def _reach(self, project: str, request: Request) -> tuple[Reach, str | None]:
        """``may_reach``, remembering public projects until the state branch moves: most
        requests are to public apps, and reading git for each one would cost more than the
        proxying itself."""
        head = self.ctx.store.repo.head()
        if self._public.get(project) == head:
            return "public", None
        reach, username = await may_reach(self.ctx, request, project)
        if reach == "public":
            if len(self._public) > _PUBLIC_CACHE:
                self._public.clear()
            self._public[project] = head
        return reach, username

    async def _unavailable(self, project: str, send: Send) -> None:
        status = self.ctx.controller.status(project)
        state = status.state if status is not None else "unknown"
        reason = f" ({status.reason})" if status is not None and status.reason else ""
        body = {
            "stopped": f"{project} is stopped. Deploy it again to start it.",
            "failed": f"{project} failed to start{reason}.",
            "deploying": f"{project} is starting{reason}; try again in a moment.",
        }.get(state, f"{project} has no running deployment yet.")
        await _page(send, 503, f"{project} is not running", body, {"retry-after": "5"})

    async def _forward(
        self,
        address: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        strip_auth: bool,
        identity: dict[str, str],
    ) -> None:
        client = self._client_for_loop()
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        url = f"http://{address}{path.decode('latin-1')}" + (
            f"?{query.decode('latin-1')}" if query else ""
        )
        headers = _forwarded_headers(scope, strip_auth=strip_auth, identity=identity)
        names = {key.lower() for key, _ in scope["headers"]}
        has_body = b"content-length" in names or b"transfer-encoding" in names
        request = client.build_request(
            scope["method"], url, headers=headers, content=_body(receive) if has_body else None
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("proxy to %s failed: %s", address, exc)
            await _page(
                send,
                502,
                "The app is not answering",
                "The app's container did not answer; rise restarts it on its next pass.",
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v)
                        for k, v in response.headers.raw
                        if k.decode("latin-1").lower() not in _HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    def _client_for_loop(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(60.0, connect=5.0),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
        return self._client


def _forwarded_headers(
    scope: Scope, *, strip_auth: bool, identity: dict[str, str]
) -> list[tuple[bytes, bytes]]:
    out = []
    for key, value in scope["headers"]:
        name = key.decode("latin-1").lower()
        if name in _HOP_BY_HOP or (strip_auth and name == "authorization"):
            continue
        if name.startswith("x-auth-request-"):  # only rise says who the person is
            continue
        if name == "cookie":
            value = _without_apps_cookie(value)
            if not value:
                continue
        out.append((key, value))
    out.extend((k.lower().encode(), v.encode("latin-1", "replace")) for k, v in identity.items())
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", str(client[0]).encode()))
    out.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
    host = Headers(scope=scope).get("host")
    if host:
        out.append((b"x-forwarded-host", host.encode("latin-1")))
    return out


def _without_apps_cookie(header: bytes) -> bytes:
    """The Cookie header less rise's session cookie: the app never sees it."""
    prefix = APPS_COOKIE.encode() + b"="
    kept = [c for c in header.split(b";") if not c.strip().startswith(prefix)]
    return b";".join(kept).strip()


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def _page(
    send: Send, status: int, title: str, text: str, headers: dict[str, str] | None = None
) -> None:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;"
        f"max-width:40em;margin:4em auto'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p><p><small>rise</small></p></body></html>\n"
    ).encode()
    raw = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
