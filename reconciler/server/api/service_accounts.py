"""``/api/v1/projects/{project}/service-accounts``: CI identities that deploy without a secret.

A service account is a file ``service-accounts/<project>/<name>.toml``: a trusted issuer and
claim matchers (``schemas/service_account.py``). A token of that issuer whose claims match
acts as the account, which may deploy, list, show and stop its project's deployments and
nothing else (``authz.SERVICE_ACCOUNT_ROUTES``). Anyone who may deploy the project may list
and show its accounts; only its owners (and admins) create and remove them, because an
account hands deploy rights to whoever controls the matching pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.server.api._access import editable_project, read_teams, visible_project
from reconciler.server.api._http import blocking, caller, path_name, read_body, respond
from reconciler.server.authz import Access, Principal, may_manage_project
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError, from_schema_error, not_found
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.store import read_model, write_model
from reconciler.state import Edit
from reconciler.state.layout import SERVICE_ACCOUNTS, service_account_file
from schemas import SchemaError, ServiceAccountFile, parse_model
from schemas.errors import suggest
from schemas.service_account import ServiceAccountCreate, ServiceAccountInfo

_TAG = "service-accounts"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def list_accounts(request: Request) -> Response:
        project = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        accounts = await blocking(_visible_accounts, ctx, principal, project)
        return respond([_info(project, name, account) for name, account in accounts.items()])

    async def show_account(request: Request) -> Response:
        project = path_name(request, "project", "project name")
        name = path_name(request, "account", "service account name")
        principal = await caller(request, ctx)
        accounts = await blocking(_visible_accounts, ctx, principal, project)
        if name not in accounts:
            raise _not_found(project, name, accounts)
        return respond(_info(project, name, accounts[name]))

    async def create_account(request: Request) -> Response:
        project = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        body = await read_body(request, ServiceAccountCreate)
        _check_issuer(ctx, body.issuer)
        account = _account(body, principal)
        path = service_account_file(project, body.name)

        def change(edit: Edit) -> str:
            _managed_project(edit, principal, project)
            if edit.exists(path):
                raise ApiError(
                    409,
                    "already_exists",
                    f"service account {body.name!r} already exists in project {project!r}",
                    f"pick another name, or remove it first: rise sa rm {project} {body.name}",
                )
            write_model(edit, path, account)
            return f"create service account {project}/{body.name} (issuer {body.issuer})"

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(_info(project, body.name, account, result.commit), 201)

    async def delete_account(request: Request) -> Response:
        project = path_name(request, "project", "project name")
        name = path_name(request, "account", "service account name")
        principal = await caller(request, ctx)

        removed: list[ServiceAccountFile] = []

        def change(edit: Edit) -> str:
            removed.clear()
            _managed_project(edit, principal, project)
            path = service_account_file(project, name)
            account = read_model(edit, path, ServiceAccountFile)
            if account is None:
                names = [n.removesuffix(".toml") for n in edit.list(_folder(project))]
                raise _not_found(project, name, names)
            removed.append(account)
            edit.delete(path)
            return f"delete service account {project}/{name}"

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(_info(project, name, removed[-1], result.commit))

    base = "/api/v1/projects/{project}/service-accounts"
    item = f"{base}/{{account}}"
    return [
        ApiRoute(
            base,
            list_accounts,
            "GET",
            Operation(
                "List a project's service accounts",
                response=ServiceAccountInfo,
                many=True,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            base,
            create_account,
            "POST",
            Operation(
                "Create a service account: a trusted issuer's tokens with matching claims "
                "deploy this project (owners only)",
                body=ServiceAccountCreate,
                response=ServiceAccountInfo,
                status=201,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            item,
            show_account,
            "GET",
            Operation(
                "Show a service account",
                response=ServiceAccountInfo,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            item,
            delete_account,
            "DELETE",
            Operation(
                "Remove a service account (owners only)",
                response=ServiceAccountInfo,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
    ]


def _visible_accounts(
    ctx: ServerContext, principal: Principal, project: str
) -> dict[str, ServiceAccountFile]:
    """The project's accounts, for those who may deploy it (404/403 for anyone else)."""
    visible_project(ctx.store, principal, project, Access.CHANGE)
    state = ctx.store.snapshot().projects.get(project)
    return dict(sorted(state.service_accounts.items())) if state is not None else {}


def _managed_project(edit: Edit, principal: Principal, project: str) -> None:
    found = editable_project(edit, principal, project)
    if not may_manage_project(principal, found, read_teams(edit.read)):
        raise ApiError(
            403,
            "forbidden",
            f"only owners of project {project!r} ({found.owner}) may create or remove its "
            "service accounts: an account lets a pipeline deploy it",
            "ask an owner of the project (or of its team), or an admin",
        )


def _check_issuer(ctx: ServerContext, issuer: str) -> None:
    trusted = [item.issuer for item in ctx.config.auth.trusted_issuers]
    if issuer in trusted:
        return
    if not trusted:
        raise ApiError(
            400,
            "untrusted_issuer",
            f"issuer {issuer!r} is not trusted: this server trusts no issuer yet",
            "an operator adds it to the server configuration as [[auth.trusted_issuers]] "
            "(issuer, audience); see docs/auth.md",
        )
    match = suggest(issuer, trusted)
    raise ApiError(
        400,
        "untrusted_issuer",
        f"issuer {issuer!r} is not one this server trusts"
        f"{f'; did you mean {match!r}?' if match else ''}",
        f"trusted issuers: {', '.join(trusted)}",
    )


def _account(body: ServiceAccountCreate, principal: Principal) -> ServiceAccountFile:
    data = {"issuer": body.issuer, "claims": body.claims, "created_by": principal.username}
    try:
        return parse_model(data, ServiceAccountFile, "body")
    except SchemaError as exc:
        hint = "claims are NAME=VALUE pairs of the CI token, e.g. repository=org/app"
        raise from_schema_error(exc, hint) from None


def _folder(project: str) -> str:
    return f"{SERVICE_ACCOUNTS}/{project}"


def _not_found(project: str, name: str, names: Iterable[str]) -> ApiError:
    match = suggest(name, names)
    hint = f"did you mean {match!r}? " if match else ""
    return not_found(
        "service account", f"{project}/{name}", f"{hint}list them with 'rise sa ls {project}'"
    )


def _info(
    project: str, name: str, account: ServiceAccountFile, commit: str | None = None
) -> ServiceAccountInfo:
    return ServiceAccountInfo(
        project=project,
        name=name,
        issuer=account.issuer,
        claims=dict(account.claims),
        created_by=account.created_by,
        commit=commit,
    )
