"""The session cookie private apps are reached with, and ``/oauth/signin`` that sets it.

Forward auth (``ingress_auth``) reads the cookie ``rise_apps``: a rise JWT with its own
audience (``rise-apps``), so an app that sees it (apps share the cookie's domain) cannot call
the API with it. It is HttpOnly, SameSite=Lax, Secure when the apps' URLs are https, and lasts
``[auth.apps] ttl``; a password change ends it as it ends tokens.

``GET /oauth/signin?rd=<app URL>`` is where the ingress sends a browser without a session
(nginx's ``auth-signin``). ``rd`` must be an address under the apps' cookie domain: rise
never redirects anywhere else. Signed in on the login page (any sign-in it offers: it returns
here through its ``next`` hook), the person gets the cookie and goes back to ``rd``:

- with a cookie domain shared by rise's host and the apps (``rise.example.com`` and
  ``*.apps.example.com`` share ``example.com``: set ``[auth.apps] cookie_domain``), rise sets
  ``Domain=<cookie domain>`` itself, which is what an ingress controller needs;
- otherwise (``rise dev``: ``127.0.0.1`` and ``*.localhost`` share nothing a browser accepts)
  the app host must be one rise's own proxy serves: rise hands over a one-time ticket
  (``/.rise/session?ticket=``, 60 s, in memory) and the proxy sets a host-only cookie.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.server.authorize import allow_form_target, split_url
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.login_pages import (
    COOKIE,
    Sessions,
    renderer,
    sign_in_form,
)
from reconciler.server.tokens import TokenError
from schemas.server import ServerConfig

log = logging.getLogger("rise.server")

APPS_COOKIE = "rise_apps"
SIGNIN_PATH = "/oauth/signin"
HANDOFF_PATH = "/.rise/session"
HANDOFF_SECONDS = 60
MAX_HANDOFFS = 10_000
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


def app_domains(app_url_template: str, *, proxied: bool = False) -> tuple[str, ...]:
    """The domains whose first label names a project: the template's (``apps.example.com``
    of ``https://{project}.apps.example.com``), and ``localhost`` where rise's own proxy
    serves the apps (``proxied``)."""
    host = urlsplit(app_url_template.replace("{project}", "project-placeholder")).hostname or ""
    label, _, domain = host.partition(".")
    found = (domain,) if label == "project-placeholder" and domain else ()
    return tuple(dict.fromkeys((*(("localhost",) if proxied else ()), *found)))


def cookie_domain(config: ServerConfig) -> str:
    configured = config.auth.apps.cookie_domain
    found = app_domains(config.app_url_template)
    return (configured or (found[0] if found else "")).strip(".").lower()


def rise_host_shares(config: ServerConfig, domain: str) -> bool:
    """rise itself (``public_url``) may set a cookie for ``domain``, and a browser keeps one:
    the domain has a dot (``localhost`` is refused by browsers) and contains rise's host."""
    host = (urlsplit(config.public_url or "").hostname or "").lower()
    return "." in domain and _within(host, domain)


def redirect_problem(rd: str, domains: tuple[str, ...]) -> str | None:
    """Why ``rd`` is no app address to go back to after sign-in, or None."""
    parts = split_url(rd, 4000)
    if not rd or parts is None:
        return f"the address to go back to (rd={rd!r}) is missing or malformed"
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return f"rd {rd!r} must be an http(s) address of an app"
    host = (parts.hostname or "").lower()
    if not _HOST.match(host):
        return f"rd {rd!r} must name an app's host (letters, digits, dots and dashes)"
    if not any(_within(host, domain) and host != domain for domain in domains):
        under = " or ".join(repr(d) for d in domains)
        return f"rd {rd!r} is not an app under {under}; rise redirects only to its apps"
    return None


def apps_principal(ctx: ServerContext, token: str) -> Principal | None:
    """Who an apps cookie belongs to, or None when it is not (or no longer) valid."""
    try:
        verified = ctx.tokens.verify_apps(token)
    except TokenError:
        return None
    try:
        user = ctx.authenticator.token_user(verified)
    except TokenError:
        return None
    return ctx.authenticator.principal(user.username)


def set_apps_cookie(
    response: Response, token: str, max_age: int, secure: bool, domain: str | None = None
) -> None:
    response.set_cookie(
        APPS_COOKIE,
        token,
        max_age=max_age,
        path="/",
        domain=domain,
        httponly=True,
        samesite="lax",
        secure=secure,
    )


@dataclass(frozen=True)
class Handoff:
    token: str
    host: str
    target: str
    expires_at: float


class Handoffs:
    """One-time tickets that carry an apps cookie to a host rise's own proxy serves."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._items: OrderedDict[str, Handoff] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, token: str, host: str, target: str) -> str:
        ticket = secrets.token_urlsafe(32)
        entry = Handoff(token, host, target, self._clock() + HANDOFF_SECONDS)
        with self._lock:
            self._items[_digest(ticket)] = entry
            while len(self._items) > MAX_HANDOFFS:
                self._items.popitem(last=False)
        return ticket

    def redeem(self, ticket: str, host: str) -> Handoff | None:
        """The handoff of ``ticket`` for ``host`` (then gone), or None."""
        with self._lock:
            entry = self._items.pop(_digest(ticket), None)
        if entry is None or self._clock() >= entry.expires_at or entry.host != host.lower():
            return None
        return entry


def routes(ctx: ServerContext, sessions: Sessions, handoffs: Handoffs) -> list[BaseRoute]:
    if not ctx.config.auth.device.enabled:  # the login pages are off, and with them this
        return []
    render = renderer(ctx)
    domain = cookie_domain(ctx.config)
    shared = rise_host_shares(ctx.config, domain)
    apps = app_domains(ctx.config.app_url_template, proxied=ctx.routes is not None)
    if not shared and ctx.routes is None and ctx.config.public_url:
        log.warning(
            "browsers cannot sign in to private apps: rise (public_url %s) and the apps under "
            "%r share no cookie domain; set [auth.apps] cookie_domain",
            ctx.config.public_url,
            domain,
        )
    ttl = ctx.config.auth.apps.ttl

    async def signin(request: Request) -> Response:
        rd = request.query_params.get("rd", "")
        problem = redirect_problem(rd, apps)
        if problem is None and not shared and ctx.routes is None:
            problem = (
                f"rise ({ctx.config.public_url}) cannot set a cookie for the apps under "
                f"{domain!r}: set [auth.apps] cookie_domain to a domain both lie under"
            )
        if problem is not None:
            return render("login_done.html", 400, heading="Cannot sign in here", message=problem)
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None or session.username is None:
            sid, session = (None, session) if session is not None else sessions.new()
            form = sign_in_form(render, sid, session, f"{SIGNIN_PATH}?rd={quote(rd, safe='')}")
            back = urlsplit(rd)
            return allow_form_target(form, f"{back.scheme}://{back.netloc}")
        user = ctx.users.get(session.username)
        if user is None:
            sessions.drop(request.cookies.get(COOKIE))
            return render("login_done.html", 403, heading="Unknown user", message="Sign in again.")
        request.state.user = user.username
        token = ctx.tokens.issue_apps(user, ttl)
        target = urlsplit(rd)
        if shared:
            response = RedirectResponse(rd, status_code=303)
            set_apps_cookie(response, token, ttl, target.scheme == "https", domain)
            return response
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        ticket = handoffs.issue(token, (target.hostname or "").lower(), path)
        query = urlencode({"ticket": ticket})
        return RedirectResponse(
            f"{target.scheme}://{target.netloc}{HANDOFF_PATH}?{query}", status_code=303
        )

    return [Route(SIGNIN_PATH, signin, methods=["GET"])]


def signin_url(ctx: ServerContext, rd: str) -> str:
    """Where a browser without a session for ``rd`` signs in."""
    base = (ctx.config.public_url or "").rstrip("/")
    return f"{base}{SIGNIN_PATH}?rd={quote(rd, safe='')}"


def _within(host: str, domain: str) -> bool:
    return bool(host) and (host == domain or host.endswith("." + domain))


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()
