"""The dashboard's session: a rise access token in a cookie, and CSRF tokens for its forms.

The cookie holds the same token ``rise login`` gets, so a page decides with exactly the
API's ``Authenticator``. It is HttpOnly (no script reads it), SameSite=Lax (no cross-site
POST carries it) and Secure when the server's public URL is https. Every form also carries a
CSRF token derived from the session token: a page on another site can neither read the
cookie nor compute the token, so a forged post fails even where SameSite does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.tokens import TokenError, TokenPair

SESSION_COOKIE = "rise_session"
REFRESH_COOKIE = "rise_refresh"
"""The refresh token, sent to dashboard pages only: a page renews an expired session."""
SIGNIN_COOKIE = "rise_signin"
"""Before there is a session, the sign-in form's CSRF token is this cookie's value."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


async def session_principal(request: Request, ctx: ServerContext) -> Principal | None:
    """Who the session cookie belongs to, checked as a Bearer token is; None when there is
    no session or it is no longer valid (expired, password changed, user deleted)."""
    token = session_token(request)
    if token is None:
        return None
    try:
        return await token_principal(request, ctx, token)
    except ApiError:
        return None


async def token_principal(request: Request, ctx: ServerContext, token: str) -> Principal:
    """Who ``token`` belongs to, checked now exactly as the API checks a Bearer token (and
    not taken from what this request already found): 401 ApiError saying why not."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", b"Bearer " + token.encode("latin-1", "replace")))
    as_bearer = Request({**request.scope, "headers": headers, "state": {}})
    return await ctx.authenticator.identify(as_bearer)


def renew(request: Request, ctx: ServerContext) -> tuple[Principal, TokenPair] | None:
    """A new token pair from the refresh cookie (as ``rise`` refreshes), or None when it is
    missing, expired, or the password changed since."""
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        return None
    try:
        verified = ctx.tokens.verify_refresh(token)
    except TokenError:
        return None
    if verified.kind != "user":
        return None
    try:
        user = ctx.authenticator.token_user(verified)
    except TokenError:
        return None
    pair = ctx.tokens.for_user(user)
    request.cookies[SESSION_COOKIE] = pair.access_token  # this page's forms: the new session
    return ctx.authenticator.principal(user.username), pair


def csrf_token(request: Request) -> str:
    """The token every form of this session carries."""
    token = session_token(request)
    if token is None:
        return request.cookies.get(SIGNIN_COOKIE, "")
    return hashlib.sha256(b"rise-csrf:" + token.encode()).hexdigest()


def csrf_ok(request: Request, sent: str | None) -> bool:
    expected = csrf_token(request)
    return bool(expected and sent) and hmac.compare_digest(expected, str(sent))


def ensure_signin_cookie(request: Request, response: Response, secure: bool) -> None:
    if not request.cookies.get(SIGNIN_COOKIE):
        value = secrets.token_urlsafe(32)
        request.cookies[SIGNIN_COOKIE] = value  # so the page rendered now carries it
        _set(response, SIGNIN_COOKIE, value, 3600, secure)


def start_session(response: Response, pair: TokenPair, secure: bool) -> None:
    _set(response, SESSION_COOKIE, pair.access_token, pair.expires_in, secure)
    _set(response, REFRESH_COOKIE, pair.refresh_token, pair.refresh_expires_in, secure)
    response.delete_cookie(SIGNIN_COOKIE, path="/ui/")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/ui/")


def _set(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    path = "/" if name == SESSION_COOKIE else "/ui/"
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=secure
    )
