"""Who is calling: a rise access token (Bearer), or HTTP Basic for docker/buildah logins.

A Bearer JWT whose ``iss`` is one of ``[[auth.trusted_issuers]]`` is verified against that
issuer's keys and acts as the service account it matches (``trusted_issuers``); any other
foreign ``iss`` is refused by name, before any key is tried.

Basic accepts ``username:password`` of a local user and ``username:<rise access token>``
(what ``docker login`` sends when given a token as password). ``authenticate`` answers None
for any failure, which is what the registry's token endpoint wants; ``identify`` raises a 401
that says why, which is what the API wants.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute

from reconciler.server.authz import Principal, service_account_route
from reconciler.server.errors import ApiError
from reconciler.server.throttle import PasswordGate, Throttled
from reconciler.server.tokens import Kind, TokenError, TokenService, VerifiedToken
from reconciler.server.trusted_issuers import TrustedIssuers, TrustRefused, unverified_issuer
from reconciler.server.users import LockedOut, User, UserStore

_LOGIN_HINT = "log in with 'rise login' and send the token as 'Authorization: Bearer <token>'"


class Authenticator:
    def __init__(
        self,
        tokens: TokenService,
        users: UserStore,
        admins: Iterable[str],
        gate: PasswordGate,
        trusted: TrustedIssuers | None = None,
        providers: Iterable[str] = (),
    ):
        """``providers``: names of the configured OpenID providers, whose users a token
        may introduce to this server (``token_user``)."""
        self._providers = frozenset(providers)
        self._tokens = tokens
        self._users = users
        self._admins = frozenset(admins)
        self._gate = gate
        self._trusted = trusted

    async def check_password(self, request: Request, username: str, password: str) -> User | None:
        """The user this password belongs to, or None; a 429 that says when to try again
        while the client is throttled or the name locked out for it (login and HTTP Basic
        share both, so they share this answer)."""
        client = request.client.host if request.client else "unknown"
        try:
            return await self._gate.run(client, self._users.verify, username, password, client)
        except (LockedOut, Throttled) as exc:
            raise ApiError(
                429,
                "locked_out" if isinstance(exc, LockedOut) else "too_many_attempts",
                str(exc),
                "wait, or ask an admin to reset the password",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None

    def principal(self, username: str, kind: Kind = "user") -> Principal:
        """The caller as authorization sees them, with admin rights looked up now."""
        if kind != "user":
            return Principal(username, False, kind)
        user = self._users.get(username)
        return Principal(username, username in self._admins or bool(user and user.is_admin))

    async def authenticate(self, request: Request) -> Principal | None:
        try:
            return await self.identify(request)
        except ApiError as exc:
            if exc.status == 403:
                raise  # known, but not allowed here (a service account elsewhere): say so
            return None

    async def identify(self, request: Request) -> Principal:
        """The caller, or a 401 saying what was wrong with the credentials."""
        cached = getattr(request.state, "principal", None)
        if cached is not None:
            return cached
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            principal = await self._from_bearer(value.strip())
        elif scheme == "basic":
            principal = await self._from_basic(request, value.strip())
        else:
            raise _unauthorized("authentication required")
        route = request.scope.get("route")
        service_account_route(
            principal,
            request.method,
            route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else "",
            request.path_params.get("project"),
        )
        request.state.principal = principal
        request.state.user = principal.username
        return principal

    async def _from_bearer(self, token: str) -> Principal:
        """A rise token, or a trusted issuer's; told apart by ``iss`` without trying keys."""
        issuer = unverified_issuer(token)
        if issuer is None or issuer == self._tokens.issuer:
            return self._from_token(token)
        if self._trusted is not None and self._trusted.handles(issuer):
            try:
                return await run_in_threadpool(self._trusted.principal, token, issuer)
            except TrustRefused as exc:
                raise _unauthorized(str(exc)) from None
        trusted = self._trusted.issuers if self._trusted is not None else []
        raise _unauthorized(
            f"tokens issued by {issuer!r} are not accepted here; this server accepts its own "
            f"tokens and those of {', '.join(trusted) if trusted else 'no trusted issuer'}"
        )

    def _from_token(self, token: str) -> Principal:
        try:
            verified = self._tokens.verify_access(token)
        except TokenError as exc:
            raise _unauthorized(str(exc)) from None
        if verified.kind == "user":
            try:
                self.token_user(verified)
            except TokenError as exc:
                raise _unauthorized(str(exc)) from None
        return self.principal(verified.subject, verified.kind)

    def token_user(self, verified: VerifiedToken) -> User:
        """The user a verified token of kind user names, or TokenError saying why not.

        A provider's user this server has not seen sign in (another replica did) is known
        from the token's provider identity, as long as that provider is still configured and
        the name is not someone else's here."""
        user = self._users.get(verified.subject)
        identity = verified.identity
        if user is None and identity is not None and identity.provider in self._providers:
            user = self._users.adopt(verified.subject, identity)
        if user is None:
            raise TokenError(f"user {verified.subject!r} no longer exists")
        if identity is not None and user.identity != identity:
            raise TokenError(f"user {verified.subject!r} is another user here")
        if verified.password_version != user.password_version:
            raise TokenError("the password changed since this token was issued")
        return user

    async def _from_basic(self, request: Request, value: str) -> Principal:
        try:
            username, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credentials") from None
        if not sep or not username:
            raise _unauthorized("Basic credentials must be 'username:password'")
        if _looks_like_jwt(secret):  # a token given as the password (docker login)
            principal = self._from_token(secret)
            if principal.username != username:
                raise _unauthorized("the token belongs to another user")
            return principal
        user = await self.check_password(request, username, secret)
        if user is None:
            raise _unauthorized("wrong username or password")
        return self.principal(user.username)


async def authenticate(request: Request) -> Principal | None:
    """The caller of ``request`` to this rise server, or None (for the registry routes)."""
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(request)


def _looks_like_jwt(secret: str) -> bool:
    """A compact JWS whose header names an algorithm; a password with two dots is none."""
    header, *rest = secret.split(".")
    if len(rest) != 2:
        return False
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        message,
        _LOGIN_HINT,
        headers={"WWW-Authenticate": 'Bearer realm="rise"'},
    )
