"""The device flow's HTTP side: ``/oauth/device/code``, ``/oauth/token`` and the login page.

The two OAuth endpoints take form bodies and answer JSON in RFC 6749/8628's own shapes (not
the API's error body), so any OAuth client library can drive them. The page at
``/oauth/login?code=USER-CODE`` is server-rendered HTML: sign in (local password), then
approve or deny the code. Its session cookie is HttpOnly, SameSite=Lax, Secure when the
public URL is https, and scoped to ``/oauth``; every form carries the session's CSRF token;
framing is refused so nobody can trick a click on "Approve".

Other sign-ins reuse this page: a form field ``next`` (one of ``RETURN_PATHS``, so never
another site) is where a successful sign-in goes instead of the code's approval page, and
``/oauth/token`` redeems the grant types passed in ``grants`` beside the device code.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote

import jinja2
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.server.api.auth import DEVICE_ENDPOINT
from reconciler.server.context import ServerContext
from reconciler.server.device import DeviceError, DeviceFlow, format_user_code
from reconciler.server.errors import ApiError
from reconciler.server.throttle import RateLimiter, Throttled
from schemas.api import DeviceAuthorization, OAuthError, TokenResponse

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_IDS = frozenset({"rise-cli"})
COOKIE = "rise_login"
LOGIN_PAGE = "/oauth/login"
SESSION_SECONDS = 15 * 60
MAX_SESSIONS = 10_000
RETURN_PATHS = ("/oauth/authorize?", "/oauth/signin?")
"""Where ``next`` may send a person after sign-in: same-site pages that continue a login."""
TEMPLATES = Path(__file__).parent / "ui" / "templates"
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


Redeemer = Callable[[dict[str, str]], str]
"""A token-endpoint grant: the form in, the user name out, or a ``DeviceError``."""


class Renderer(Protocol):
    def __call__(
        self, template: str, status: int = 200, sid: str | None = None, **values: Any
    ) -> Response: ...


@dataclass
class Session:
    csrf: str
    expires_at: float
    username: str | None = None


class Sessions:
    """Login-page sessions in memory (they live minutes); the oldest go first when full."""

    def __init__(self, clock: Any = time.monotonic):
        self._clock = clock
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> Session | None:
        with self._lock:
            found = self._items.get(sid or "")
            if found is None or self._clock() >= found.expires_at:
                return None
            return found

    def new(self, username: str | None = None) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), self._clock() + SESSION_SECONDS, username)
        with self._lock:
            self._items[sid] = session
            while len(self._items) > MAX_SESSIONS:
                self._items.popitem(last=False)
        return sid, session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._items.pop(sid or "", None)


def device_flow(ctx: ServerContext) -> DeviceFlow:
    settings = ctx.config.auth.device
    return DeviceFlow(
        expires_in=settings.expires_in,
        interval=settings.interval,
        lookups=RateLimiter(settings.lookup_per_second, settings.lookup_burst),
    )


def renderer(ctx: ServerContext) -> Renderer:
    """Renders a login template as a page (``action`` defaults to the login page's): the one
    place every login page's common values are set."""
    secure = secure_cookies(ctx)
    pages = _environment()

    def render(template: str, status: int = 200, sid: str | None = None, **values: Any) -> Response:
        values.setdefault("error", None)
        values.setdefault("action", LOGIN_PAGE)
        values.setdefault("providers", provider_links(ctx))
        values.setdefault("local", ctx.config.auth.local.enabled)
        html = pages.get_template(template).render(**values)
        response = HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)
        if sid is not None:
            set_session_cookie(response, sid, secure)
        return response

    return render


def secure_cookies(ctx: ServerContext) -> bool:
    return (ctx.config.public_url or "").startswith("https://")


def is_return_path(target: str) -> bool:
    """``target`` is a page of this site that continues a login (never another site)."""
    return target.startswith(RETURN_PATHS) and target.isprintable() and "\\" not in target


def sign_in_form(
    render: Renderer,
    sid: str | None,
    session: Session,
    after: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in form of a login that continues at ``after`` (one of ``RETURN_PATHS``)."""
    blank = {"code": "", "code_display": "", "username": ""}
    return render("login.html", status, sid, error=error, csrf=session.csrf, next=after, **blank)


def routes(
    ctx: ServerContext,
    flow: DeviceFlow,
    sessions: Sessions,
    grants: Mapping[str, Redeemer] | None = None,
) -> list[BaseRoute]:
    if not ctx.config.auth.device.enabled:
        return []
    secure = secure_cookies(ctx)
    render = renderer(ctx)
    redeemers: dict[str, Redeemer] = {
        DEVICE_GRANT: lambda form: flow.poll(
            form.get("device_code", ""), form.get("client_id", "")
        ),
        **(grants or {}),
    }

    async def device_code(request: Request) -> Response:
        form = await read_form(request)
        client_id = form.get("client_id", "")
        if client_id not in CLIENT_IDS:
            return _oauth_error("invalid_client", f"unknown client_id {client_id!r}", 401)
        try:
            issued = flow.issue(client_id)
        except Throttled as exc:
            return _oauth_error("slow_down", str(exc), 429)
        page = f"{_public_url(ctx, request)}{LOGIN_PAGE}"
        body = DeviceAuthorization(
            device_code=issued.device_code,
            user_code=issued.user_code,
            verification_uri=page,
            verification_uri_complete=f"{page}?code={quote(issued.user_code)}",
            expires_in=issued.expires_in,
            interval=issued.interval,
        )
        return _json(body)

    async def token(request: Request) -> Response:
        form = await read_form(request)
        redeem = redeemers.get(form.get("grant_type", ""))
        if redeem is None:
            return _oauth_error(
                "unsupported_grant_type", f"this endpoint takes grant_type {' or '.join(redeemers)}"
            )
        try:
            username = redeem(form)
        except DeviceError as exc:
            return _oauth_error(
                exc.error, exc.description, 401 if exc.error == "invalid_client" else 400
            )
        user = ctx.users.get(username)
        if user is None:
            return _oauth_error("access_denied", f"the user {username!r} no longer exists")
        request.state.user = username
        pair = ctx.tokens.for_user(user)
        return _json(
            TokenResponse(
                access_token=pair.access_token,
                expires_in=pair.expires_in,
                refresh_token=pair.refresh_token,
                refresh_expires_in=pair.refresh_expires_in,
            )
        )

    def session_of(request: Request) -> tuple[str | None, Session]:
        """The caller's session, or a new anonymous one (its id to set as the cookie)."""
        found = sessions.get(request.cookies.get(COOKIE))
        if found is not None:
            return None, found
        return sessions.new()

    def lookup(request: Request, code: str) -> str | None:
        client = request.client.host if request.client else "unknown"
        try:
            return flow.pending(client, code)
        except Throttled as exc:
            raise ApiError(
                429,
                "too_many_attempts",
                str(exc),
                "wait, then open the link 'rise login' printed",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None

    def page(
        request: Request, code: str, error: str | None = None, status: int = 200, after: str = ""
    ) -> Response:
        """The sign-in form, or (signed in) the approval form, of ``code``."""
        new_sid, session = session_of(request)
        if after:
            return sign_in_form(render, new_sid, session, after, error, status)
        pending = lookup(request, code) if code else None
        if code and pending is None:
            error = error or "That code is unknown, expired or already used; run 'rise login'."
            status = 404
        shown = format_user_code(pending) if pending else ""
        if session.username and pending:
            return render(
                "login_approve.html",
                status,
                new_sid,
                error=error,
                csrf=session.csrf,
                username=session.username,
                code_display=shown,
            )
        return render(
            "login.html",
            status,
            new_sid,
            error=error,
            csrf=session.csrf,
            code=pending or "",
            code_display=shown,
            username="",
            signed_in_as=session.username,
        )

    async def login_page(request: Request) -> Response:
        return page(request, request.query_params.get("code", ""))

    async def login_post(request: Request) -> Response:
        form = await read_form(request)
        sid = request.cookies.get(COOKIE)
        session = sessions.get(sid)
        if session is None or not hmac.compare_digest(session.csrf, form.get("csrf", "")):
            return _csrf_refused(render)
        code = form.get("code", "")
        after = form.get("next", "") if is_return_path(form.get("next", "")) else ""
        if "decision" in form:
            return decide(session, code, form["decision"])
        if not ctx.config.auth.local.enabled:
            return page(request, code, "Username/password sign-in is turned off here.", 404)
        try:
            user = await ctx.authenticator.check_password(
                request, form.get("username", ""), form.get("password", "")
            )
        except ApiError as exc:
            return page(request, code, exc.message, exc.status, after)
        if user is None:
            return page(request, code, "Wrong username or password.", 401, after)
        # A new session id on sign-in, so a planted cookie never becomes a signed-in one.
        sessions.drop(sid)
        new_sid, _ = sessions.new(user.username)
        target = after or f"{LOGIN_PAGE}?code={quote(code)}"
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, new_sid, secure)
        return response

    def decide(session: Session, code: str, decision: str) -> Response:
        if session.username is None:
            return _csrf_refused(render)
        approve = decision == "approve"
        if not flow.decide(code, session.username if approve else None):
            return render(
                "login_done.html",
                404,
                heading="Code not found",
                message="That code is unknown, expired or already used; run 'rise login' again.",
            )
        if approve:
            return render(
                "login_done.html",
                heading="Login approved",
                message="You may close this page and return to the command line.",
            )
        return render(
            "login_done.html",
            heading="Login denied",
            message="The command line was refused; nothing was signed in.",
        )

    return [
        Route(DEVICE_ENDPOINT, device_code, methods=["POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route(LOGIN_PAGE, login_page, methods=["GET"]),
        Route(LOGIN_PAGE, login_post, methods=["POST"]),
    ]


def provider_links(ctx: ServerContext) -> list[dict[str, str]]:
    """The "Sign in with ..." links of the login pages: label and start URL of each provider
    (``oidc_pages`` serves them)."""
    return [
        {"name": p.name, "label": p.label, "start": f"/oauth/oidc/{p.name}/start"}
        for p in ctx.config.auth.oidc
    ]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )


def simple_page(heading: str, message: str, status: int = 200) -> Response:
    """A page that only says something (a failed sign-in, a finished approval)."""
    html = (
        _environment()
        .get_template("login_done.html")
        .render(heading=heading, message=message, error=None)
    )
    return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)


def no_store(response: Response) -> Response:
    """The login pages' headers (no caching, no framing) on a redirect or page."""
    response.headers.update(_PAGE_HEADERS)
    return response


def set_session_cookie(response: Response, sid: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=SESSION_SECONDS,
        path="/oauth",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def _csrf_refused(render: Renderer) -> Response:
    return render(
        "login_done.html",
        403,
        heading="Session expired",
        message="This form is stale or came from another site; open the link again.",
    )


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body, each field's first value."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the fields as application/x-www-form-urlencoded",
            "as OAuth 2.0 (RFC 6749) asks",
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qs(raw, max_num_fields=20)
    except ValueError:
        raise ApiError(400, "invalid_request", "too many form fields", "send at most 20") from None
    return {k: v[0] for k, v in fields.items()}


def _public_url(ctx: ServerContext, request: Request) -> str:
    return (ctx.config.public_url or str(request.base_url)).rstrip("/")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json(OAuthError(error=error, error_description=description), status)


def _json(body: BaseModel, status: int = 200) -> Response:
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
