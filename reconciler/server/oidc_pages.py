"""Sign-in through an OpenID provider: ``/oauth/oidc/<provider>/start`` and ``/callback``.

``start`` is linked from the device login page (``?device=USER-CODE``), the dashboard's
sign-in page (``?next=/ui/...``), or any other sign-in page under ``/oauth/`` that uses the
login session (``?return=/oauth/...``). Each client may start ``START_BURST`` sign-ins at
once and one more per second, so nobody floods the memory they live in. ``start`` keeps the
sign-in's state, nonce and PKCE verifier in memory under a random id, sets that id as a
cookie (HttpOnly, SameSite=Lax, Secure on https, path ``/oauth/oidc/``, ten minutes) and
sends the browser to the provider. The callback
takes that entry out (single use), checks the returned ``state`` against it in constant
time, lets the broker trade the code and validate the ID token, creates or updates the
user, syncs their teams, and lands the person back where they started: the device code's
approval page (signed in, still to approve by a click), or the dashboard page.
A callback in a browser that did not start the sign-in finds no entry and is refused.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.server import login_pages, oidc_accounts
from reconciler.server.context import ServerContext
from reconciler.server.oidc import Broker, OidcError, Pending
from reconciler.server.throttle import RateLimiter
from reconciler.server.ui import session as ui_session
from reconciler.server.ui.pages import safe_next
from reconciler.server.users import User

log = logging.getLogger("rise.oidc")

COOKIE = "rise_oidc"
COOKIE_PATH = "/oauth/oidc/"
PENDING_SECONDS = 600
MAX_PENDING = 10_000
START_BURST = 20
START_PER_SECOND = 1.0


@dataclass(frozen=True)
class Landing:
    """Where the person goes after the provider: a device code's page, or the dashboard."""

    kind: Literal["oauth", "ui"]
    target: str
    """``oauth``: a path under /oauth/ opened with the login session; ``ui``: a dashboard
    path opened with a dashboard session."""


@dataclass(frozen=True)
class _Entry:
    pending: Pending
    landing: Landing
    expires_at: float


class PendingSignIns:
    """Sign-ins on their way through a provider, by the browser's cookie; single use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, pending: Pending, landing: Landing) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._items[key] = _Entry(pending, landing, self._clock() + PENDING_SECONDS)
            while len(self._items) > MAX_PENDING:
                self._items.popitem(last=False)
        return key

    def take(self, key: str | None) -> _Entry | None:
        with self._lock:
            entry = self._items.pop(key or "", None)
        if entry is None or self._clock() >= entry.expires_at:
            return None
        return entry


def routes(ctx: ServerContext, sessions: login_pages.Sessions) -> list[BaseRoute]:
    if not ctx.config.auth.oidc:
        return []
    broker = Broker.from_config(ctx.config.auth.oidc, ctx.oidc_secrets)
    pending = PendingSignIns()
    starts = RateLimiter(START_PER_SECOND, START_BURST)
    secure = (ctx.config.public_url or "").startswith("https://")

    def callback_url(request: Request, name: str) -> str:
        base = (ctx.config.public_url or str(request.base_url)).rstrip("/")
        return f"{base}/oauth/oidc/{name}/callback"

    def failed(message: str, status: int) -> Response:
        return login_pages.simple_page("Sign-in failed", message, status)

    async def start(request: Request) -> Response:
        name = str(request.path_params["provider"])
        provider = broker.get(name)
        if provider is None:
            return failed(f"There is no sign-in provider named {name!r} on this server.", 404)
        client = request.client.host if request.client else "unknown"
        wait = starts.take(client)
        if wait:
            response = failed("Too many sign-ins started from here; wait a moment.", 429)
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        landing = _landing(request.query_params)
        try:
            url, started = await run_in_threadpool(provider.begin, callback_url(request, name))
        except OidcError as exc:
            log.error("[auth.oidc] %s", exc)
            return failed(f"{provider.config.label} cannot be reached right now ({exc}).", 502)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            COOKIE,
            pending.add(started, landing),
            max_age=PENDING_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return login_pages.no_store(response)

    async def callback(request: Request) -> Response:
        name = str(request.path_params["provider"])
        entry = pending.take(request.cookies.get(COOKIE))
        state = request.query_params.get("state", "")
        if (
            entry is None
            or entry.pending.provider != name
            or not hmac.compare_digest(entry.pending.state, state)
        ):
            return _forget(
                failed(
                    "This sign-in was not started in this browser, was already used, or took "
                    "longer than ten minutes. Start again from the login page.",
                    400,
                )
            )
        provider = broker.get(name)
        assert provider is not None  # an entry is only made for a configured provider
        if "error" in request.query_params:
            said = request.query_params.get("error_description") or request.query_params["error"]
            return _forget(failed(f"{provider.config.label} did not sign you in: {said}", 401))
        said_iss = request.query_params.get("iss")
        if said_iss is not None and said_iss != provider.config.issuer:  # RFC 9207: mix-up
            message = f"the answer came from {said_iss!r}, not from {provider.config.label}."
            return _forget(failed(message, 401))
        code = request.query_params.get("code", "")
        try:
            identity = await run_in_threadpool(
                provider.finish, code, entry.pending, callback_url(request, name)
            )
        except OidcError as exc:
            log.warning("[auth.oidc] sign-in refused: %s", exc)
            return _forget(failed(str(exc), 401))
        user = await run_in_threadpool(oidc_accounts.sign_in, ctx.users, identity)
        teams = await run_in_threadpool(
            oidc_accounts.sync_teams,
            ctx.store,
            user.username,
            identity.groups,
            provider.config.group_teams,
        )
        request.state.user = user.username
        log.info(
            "signed in through provider",
            extra={"provider": name, "user": user.username, "teams_changed": teams},
        )
        return _forget(land(entry.landing, user))

    def land(landing: Landing, user: User) -> Response:
        if landing.kind == "oauth":
            sid, _ = sessions.new(user.username)
            response = RedirectResponse(landing.target, status_code=303)
            login_pages.set_session_cookie(response, sid, secure)
            return login_pages.no_store(response)
        pair = ctx.tokens.for_user(user)
        response = RedirectResponse(landing.target, status_code=303)
        ui_session.start_session(response, pair, secure)
        return login_pages.no_store(response)

    return [
        Route("/oauth/oidc/{provider}/start", start, methods=["GET"]),
        Route("/oauth/oidc/{provider}/callback", callback, methods=["GET"]),
    ]


def _landing(query: Mapping[str, str]) -> Landing:
    device = query.get("device")
    if device is not None:
        return Landing("oauth", f"{login_pages.LOGIN_PAGE}?code={quote(device)}")
    back = query.get("return")
    if back is not None:
        return Landing("oauth", _safe_oauth_path(back))
    return Landing("ui", safe_next(query.get("next")))


def _safe_oauth_path(value: str) -> str:
    """A path (and query) on this server under /oauth/, else the login page: no open
    redirect, and never a provider's own callback."""
    parts = urlsplit(value)
    path = parts.path
    if (
        parts.scheme
        or parts.netloc
        or not path.startswith("/oauth/")
        or path.startswith(COOKIE_PATH)
        or "\\" in value
        or ".." in path
    ):
        return login_pages.LOGIN_PAGE
    return f"{path}?{parts.query}" if parts.query else path


def _forget(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
