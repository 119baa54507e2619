"""Login, token refresh, who am I, and local users (``/api/v1/auth``, ``/api/v1/users``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from reconciler.server.api._http import blocking, caller, path_name, read_body, respond, snapshot
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.oidc_accounts import reserved_by
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.tokens import TokenError
from reconciler.server.users import User, UserError
from schemas.api import (
    AuthConfigInfo,
    Deleted,
    LoginRequest,
    Me,
    OidcInfo,
    PasswordChange,
    RefreshRequest,
    TokenResponse,
    UserCreate,
    UserInfo,
)

_TAG = "auth"
DEVICE_ENDPOINT = "/oauth/device/code"
AUTHORIZE_ENDPOINT = "/oauth/authorize"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def login(request: Request) -> Response:
        body = await read_body(request, LoginRequest)
        if not ctx.config.auth.local.enabled:
            raise ApiError(
                404,
                "local_auth_disabled",
                "username/password login is turned off",
                "log in with 'rise login' through the configured identity provider",
            )
        user = await ctx.authenticator.check_password(request, body.username, body.password)
        if user is None:
            raise ApiError(
                401,
                "invalid_credentials",
                "wrong username or password",
                "check both; after several failures the account is locked for a while",
            )
        request.state.user = user.username
        return _tokens(ctx, user)

    async def refresh(request: Request) -> Response:
        body = await read_body(request, RefreshRequest)
        try:
            verified = ctx.tokens.verify_refresh(body.refresh_token)
        except TokenError as exc:
            raise _refresh_refused(str(exc)) from None
        try:
            user = ctx.authenticator.token_user(verified)
        except TokenError as exc:
            raise _refresh_refused(str(exc)) from None
        request.state.user = user.username
        return _tokens(ctx, user)

    async def auth_config(request: Request) -> Response:
        return respond(
            AuthConfigInfo(
                local=ctx.config.auth.local.enabled,
                oidc=[
                    OidcInfo(
                        name=provider.name,
                        display_name=provider.label,
                        issuer=provider.issuer,
                        sign_in_url=f"/oauth/oidc/{provider.name}/start",
                    )
                    for provider in ctx.config.auth.oidc
                ],
                trusted_issuers=[t.issuer for t in ctx.config.auth.trusted_issuers],
                device_authorization_endpoint=DEVICE_ENDPOINT
                if ctx.config.auth.device.enabled
                else None,
                authorization_endpoint=AUTHORIZE_ENDPOINT
                if ctx.config.auth.device.enabled
                else None,
            )
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(ctx.tokens.jwks(), headers={"Cache-Control": "max-age=300"})

    async def me(request: Request) -> Response:
        principal = await caller(request, ctx)
        snap = await snapshot(ctx)
        teams = sorted(n for n, t in snap.teams.items() if t.includes(principal.username))
        return respond(
            Me(
                username=principal.username,
                is_admin=principal.is_admin,
                kind=principal.kind,
                teams=teams,
            )
        )

    async def list_users(request: Request) -> Response:
        _admin(await caller(request, ctx))
        return respond([_info(user) for user in ctx.users.list()])

    async def create_user(request: Request) -> Response:
        _admin(await caller(request, ctx))
        body = await read_body(request, UserCreate)
        try:
            user = await blocking(_create, ctx, body)
        except UserError as exc:
            raise ApiError(409, "already_exists", str(exc), "choose another username") from None
        return respond(_info(user), 201)

    async def change_password(request: Request) -> Response:
        principal = await caller(request, ctx)
        name = request.path_params["user"]
        target = principal.username if name == "me" else path_name(request, "user", "user name")
        body = await read_body(request, PasswordChange)
        await _check_password_change(ctx, request, principal, target, body)
        try:
            user = await blocking(ctx.users.set_password, target, body.new_password)
        except UserError as exc:
            raise ApiError(
                404, "not_found", str(exc), "admins list users with GET /api/v1/users"
            ) from None
        return respond(_info(user))

    async def delete_user(request: Request) -> Response:
        _admin(await caller(request, ctx))
        name = path_name(request, "user", "user name")
        try:
            await blocking(ctx.users.delete, name)
        except UserError as exc:
            raise ApiError(
                404, "not_found", str(exc), "admins list users with GET /api/v1/users"
            ) from None
        return respond(Deleted(name=name, commit=None))

    return [
        ApiRoute(
            "/api/v1/auth/login",
            login,
            "POST",
            Operation(
                "Log in with username and password",
                body=LoginRequest,
                response=TokenResponse,
                public=True,
                errors=(401, 429),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/auth/refresh",
            refresh,
            "POST",
            Operation(
                "Trade a refresh token for new tokens",
                body=RefreshRequest,
                response=TokenResponse,
                public=True,
                errors=(401,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/auth/config",
            auth_config,
            "GET",
            Operation("Which login modes are on", response=AuthConfigInfo, public=True, tag=_TAG),
        ),
        ApiRoute(
            "/.well-known/jwks.json",
            jwks,
            "GET",
            Operation("Public keys of the server's tokens (JWKS)", public=True, tag=_TAG),
        ),
        ApiRoute("/api/v1/me", me, "GET", Operation("Who you are", response=Me, tag=_TAG)),
        ApiRoute(
            "/api/v1/users",
            list_users,
            "GET",
            Operation(
                "List local users (admins)", response=UserInfo, many=True, errors=(403,), tag=_TAG
            ),
        ),
        ApiRoute(
            "/api/v1/users",
            create_user,
            "POST",
            Operation(
                "Create a local user (admins)",
                body=UserCreate,
                response=UserInfo,
                status=201,
                errors=(403, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/users/{user}",
            delete_user,
            "DELETE",
            Operation(
                "Remove a local user; their tokens stop working at once (admins)",
                response=Deleted,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/users/{user}/password",
            change_password,
            "PUT",
            Operation(
                "Change your password ('me'), or any user's (admins)",
                body=PasswordChange,
                response=UserInfo,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
    ]


def _tokens(ctx: ServerContext, user: User) -> Response:
    pair = ctx.tokens.for_user(user)
    body = TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )
    response = respond(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _create(ctx: ServerContext, body: UserCreate) -> User:
    provider = reserved_by((p.name for p in ctx.config.auth.oidc), body.username)
    if provider is not None:
        raise UserError(
            f"names starting with '{provider}-' belong to users of provider {provider!r}"
        )
    return ctx.users.create(body.username, body.password, is_admin=body.admin)


async def _check_password_change(
    ctx: ServerContext, request: Request, principal: Principal, target: str, body: PasswordChange
) -> None:
    if target != principal.username:
        _admin(principal)
        return
    if principal.kind != "user" or ctx.users.get(target) is None:
        raise ApiError(
            404,
            "not_found",
            f"{target!r} is not a local user",
            "change the password where your account lives (your identity provider)",
        )
    current = body.current_password or ""
    if await ctx.authenticator.check_password(request, target, current) is None:
        raise ApiError(
            403, "wrong_password", "current_password is wrong", "give your current password"
        )


def _admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "only admins may manage users", "ask an admin")


def _info(user: User) -> UserInfo:
    return UserInfo(
        username=user.username,
        is_admin=user.is_admin,
        created_at=user.created_at,
        provider=user.provider,
    )


def _refresh_refused(reason: str) -> ApiError:
    return ApiError(401, "invalid_refresh_token", reason, "log in again with 'rise login'")
