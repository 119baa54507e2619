"""``/api/v1/projects/{project}/env``: variables and secrets of a project.

Secret values are encrypted (AES-256-GCM, bound to project and key) before they reach the
change function, so clear text never enters git, a commit message or a log line. Answers
mask them as ``********``; ``?reveal=true`` decrypts them for a caller who may change the
project (``rise env export --reveal``). Env is configuration of the project's members:
reading it needs the same right as changing it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.secrets import MASK, SecretError
from reconciler.server.api._access import editable_project, visible_project
from reconciler.server.api._http import blocking, caller, path_name, read_body, respond
from reconciler.server.authz import Access, Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError, not_found
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.store import read_model, write_model
from reconciler.state import Edit
from reconciler.state.layout import project_file
from schemas import EnvFile
from schemas.api import Deleted, EnvImport, EnvImported, EnvSet, EnvVar
from schemas.names import validate_env_key

_TAG = "env"
_REVEAL = {"reveal": "true: decrypt secret values (needs the right to change the project)"}

EnvChange = Callable[[EnvFile], EnvFile]


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def list_env(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        env = await _readable_env(ctx, principal, name)
        reveal = _reveal(request)
        return respond([_var(ctx, name, key, env, reveal) for key in _keys(env)])

    async def get_env(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        key = _key(request)
        principal = await caller(request, ctx)
        env = await _readable_env(ctx, principal, name)
        if key not in env.vars and key not in env.secrets:
            raise _no_variable(name, key)
        return respond(_var(ctx, name, key, env, _reveal(request)))

    async def set_env(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        key = _key(request)
        principal = await caller(request, ctx)
        body = await read_body(request, EnvSet)
        sealed = ctx.secrets.encrypt(name, key, body.value) if body.secret else None

        def update(env: EnvFile) -> EnvFile:
            vars_ = {k: v for k, v in env.vars.items() if k != key}
            secrets = {k: v for k, v in env.secrets.items() if k != key}
            if sealed is not None:
                secrets[key] = sealed
            else:
                vars_[key] = body.value
            return EnvFile(vars=vars_, secrets=secrets)

        kind = "secret" if body.secret else "variable"
        env, commit = await _commit(ctx, principal, name, update, f"set {kind} {key} of {name}")
        return respond(
            _var(ctx, name, key, env, reveal=False).model_copy(update={"commit": commit})
        )

    async def unset_env(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        key = _key(request)
        principal = await caller(request, ctx)

        def update(env: EnvFile) -> EnvFile:
            if key not in env.vars and key not in env.secrets:
                raise _no_variable(name, key)
            return EnvFile(
                vars={k: v for k, v in env.vars.items() if k != key},
                secrets={k: v for k, v in env.secrets.items() if k != key},
            )

        _, commit = await _commit(ctx, principal, name, update, f"unset {key} of {name}")
        return respond(Deleted(name=key, commit=commit))

    async def import_env(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        body = await read_body(request, EnvImport)
        both = sorted(set(body.vars) & set(body.secrets))
        if both:
            raise ApiError(
                400,
                "invalid_body",
                f"keys {both} are in both 'vars' and 'secrets'",
                "give each key once",
            )
        sealed = {k: ctx.secrets.encrypt(name, k, v) for k, v in body.secrets.items()}
        removed: list[str] = []

        def update(env: EnvFile) -> EnvFile:
            incoming = set(body.vars) | set(sealed)
            kept_vars = {} if body.replace else {k: v for k, v in env.vars.items()}
            kept_secrets = {} if body.replace else {k: v for k, v in env.secrets.items()}
            removed[:] = (
                sorted((set(env.vars) | set(env.secrets)) - incoming) if body.replace else []
            )
            for k in incoming:
                kept_vars.pop(k, None)
                kept_secrets.pop(k, None)
            return EnvFile(vars={**kept_vars, **body.vars}, secrets={**kept_secrets, **sealed})

        count = len(body.vars) + len(sealed)
        _, commit = await _commit(
            ctx, principal, name, update, f"import {count} env keys of {name}"
        )
        return respond(
            EnvImported(set=sorted([*body.vars, *sealed]), removed=removed, commit=commit)
        )

    base = "/api/v1/projects/{project}/env"
    return [
        ApiRoute(
            base,
            list_env,
            "GET",
            Operation(
                "List variables (secrets masked unless revealed); also the export",
                response=EnvVar,
                many=True,
                query=_REVEAL,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{base}/import",
            import_env,
            "POST",
            Operation(
                "Set many variables and secrets in one commit",
                body=EnvImport,
                response=EnvImported,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{base}/{{key}}",
            get_env,
            "GET",
            Operation(
                "Show one variable", response=EnvVar, query=_REVEAL, errors=(403, 404), tag=_TAG
            ),
        ),
        ApiRoute(
            f"{base}/{{key}}",
            set_env,
            "PUT",
            Operation(
                "Set a variable; with secret=true it is encrypted before it is committed",
                body=EnvSet,
                response=EnvVar,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{base}/{{key}}",
            unset_env,
            "DELETE",
            Operation("Remove a variable", response=Deleted, errors=(403, 404), tag=_TAG),
        ),
    ]


async def _readable_env(ctx: ServerContext, principal: Principal, name: str) -> EnvFile:
    state = await blocking(visible_project, ctx.store, principal, name, Access.CHANGE)
    return state.env or EnvFile()


async def _commit(
    ctx: ServerContext, principal: Principal, name: str, update: EnvChange, message: str
) -> tuple[EnvFile, str | None]:
    """Apply ``update`` to the project's env.toml as one commit; the file goes when empty."""
    path = project_file(name, "env.toml")
    result_env: list[EnvFile] = []

    def change(edit: Edit) -> str:
        editable_project(edit, principal, name)
        env = update(read_model(edit, path, EnvFile) or EnvFile())
        result_env[:] = [env]
        if env.vars or env.secrets:
            write_model(edit, path, env)
        elif edit.read(path) is not None:
            edit.delete(path)
        return message

    result = await blocking(ctx.store.commit, change, principal.username)
    if result.commit:
        ctx.signal(f"env of {name} changed by {principal.username}", {name})
    return result_env[-1], result.commit


def _var(ctx: ServerContext, project: str, key: str, env: EnvFile, reveal: bool) -> EnvVar:
    if key in env.vars:
        return EnvVar(key=key, value=env.vars[key], secret=False)
    if not reveal:
        return EnvVar(key=key, value=MASK, secret=True)
    try:
        return EnvVar(
            key=key, value=ctx.secrets.decrypt(project, key, env.secrets[key]), secret=True
        )
    except SecretError as exc:
        raise ApiError(409, "undecryptable_secret", str(exc), "set the secret again") from None


def _keys(env: EnvFile) -> list[str]:
    return sorted({*env.vars, *env.secrets})


def _key(request: Request) -> str:
    value = str(request.path_params["key"])
    try:
        return validate_env_key(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_key", str(exc), "e.g. DATABASE_URL") from None


def _reveal(request: Request) -> bool:
    return request.query_params.get("reveal", "").lower() in {"1", "true", "yes"}


def _no_variable(project: str, key: str) -> ApiError:
    return not_found(
        "variable", key, f"list the variables of {project!r} with 'rise env list {project}'"
    )
