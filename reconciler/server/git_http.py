"""``/git/state.git``: the local state repository over git smart HTTP (``git http-backend``).

People and CI clone, fetch and push the state repo with plain ``git``, authenticated with
HTTP Basic: any user name and a rise access token as the password (``rise login``), or a
local user's password. Reading needs a caller who may see every project and team in it
(the repo holds them all; an admin, typically); pushes are checked before anything becomes
visible by ``prereceive.py``, run as receive-pack's pre-receive hook: an invalid state,
a change the pusher may not make, or a direct deploy of a project that requires review is
refused with ``rise state validate``'s messages. Rewinding main is refused by receive-pack.
After an accepted push the server reconciles what moved at once, as a webhook would.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

import reconciler
from reconciler.server.api._http import read_capped, snapshot
from reconciler.server.authz import Access, Principal, may_see_team, project_access
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError

MOUNT = "/git/state.git"
MAX_PUSH_BYTES = 256 << 20
BACKEND_TIMEOUT = 600.0
_SERVICES = {"info/refs", "git-upload-pack", "git-receive-pack"}
_HOOK = '#!/bin/sh\nexec "{python}" -m reconciler.server.prereceive\n'


def routes(ctx: ServerContext, on_push: Callable[[str], None]) -> list[BaseRoute]:
    """The git endpoint, or nothing when the state repo is remote or serving is off."""
    if ctx.store.repo.remote is not None or not ctx.config.state.serve_git:
        return []
    repo = Path(ctx.store.repo.path).resolve()
    hooks = install_hooks(Path(ctx.config.data_dir) / "git-hooks")

    async def git(request: Request) -> Response:
        path = str(request.path_params["path"])
        service = request.query_params.get("service", path)
        if path not in _SERVICES or service not in _SERVICES - {"info/refs"}:
            return PlainTextResponse("rise serves git smart HTTP only\n", 404)
        principal = await _principal(request, ctx)
        await _check_reader(ctx, principal)
        body = await read_capped(request, MAX_PUSH_BYTES)
        env = _environment(ctx, request, repo, hooks, principal, path, len(body))
        status, headers, payload = await run_in_threadpool(_backend, env, body)
        if path == "git-receive-pack":  # a refused push moved nothing: a no-op refresh
            on_push(f"git push by {principal.username}")
        return Response(payload, int(status.split()[0]), headers=headers)

    return [Route(f"{MOUNT}/{{path:path}}", git, methods=["GET", "POST"])]


def install_hooks(folder: Path) -> Path:
    """The hooks folder receive-pack is pointed at (never the repo's own hooks)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    hook = folder / "pre-receive"
    hook.write_text(_HOOK.format(python=sys.executable))
    hook.chmod(stat.S_IRWXU)
    return folder


async def _principal(request: Request, ctx: ServerContext) -> Principal:
    try:
        return await ctx.authenticator.identify(request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        # git sends credentials only after a Basic challenge.
        raise ApiError(
            401,
            exc.error,
            exc.message,
            "use a rise access token as the password (rise login; any user name)",
            headers={"WWW-Authenticate": 'Basic realm="rise state repository"'},
        ) from None


async def _check_reader(ctx: ServerContext, principal: Principal) -> None:
    if principal.is_admin:
        return
    snap = await snapshot(ctx)
    hidden = any(
        state.project is None
        or project_access(principal, state.project, snap.teams.get) < Access.READ
        for state in snap.projects.values()
    ) or any(not may_see_team(principal, team) for team in snap.teams.values())
    if hidden:
        raise ApiError(
            403,
            "forbidden",
            "the state repository holds projects or teams you may not see",
            "use the API (rise project/deploy commands), or ask an admin for a token",
        )


def _environment(
    ctx: ServerContext,
    request: Request,
    repo: Path,
    hooks: Path,
    principal: Principal,
    path: str,
    length: int,
) -> dict[str, str]:
    config = {
        "core.hooksPath": str(hooks),
        "http.receivepack": "true",
        "receive.denyNonFastForwards": "true",
        "uploadpack.allowAnySHA1InWant": "false",
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(reconciler.__file__).resolve().parents[1]),
        "GIT_PROJECT_ROOT": str(repo.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": principal.username,
        "REQUEST_METHOD": request.method,
        "PATH_INFO": f"/{repo.name}/{path}",
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "CONTENT_LENGTH": str(length),
        "HTTP_CONTENT_ENCODING": request.headers.get("content-encoding", ""),
        "GIT_PROTOCOL": request.headers.get("git-protocol", ""),
        "RISE_PUSHER": principal.username,
        "RISE_PUSHER_ADMIN": "1" if principal.is_admin else "0",
        "RISE_STATE_BRANCH": ctx.store.repo.branch,
        "GIT_CONFIG_COUNT": str(len(config)),
    }
    for n, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    return env


def _backend(env: dict[str, str], body: bytes) -> tuple[str, dict[str, str], bytes]:
    """Run ``git http-backend`` (CGI) once; its status line, headers and body."""
    try:
        out = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            check=False,
            timeout=BACKEND_TIMEOUT,
        ).stdout
    except subprocess.TimeoutExpired:
        message = (
            f"git took longer than {BACKEND_TIMEOUT:g}s and was stopped; ref updates are "
            "all or nothing: fetch to see where the branches are, and retry\n"
        )
        return "504 Gateway Timeout", {"Content-Type": "text/plain"}, message.encode()
    head, _, payload = out.partition(b"\r\n\r\n")
    status, headers = "200 OK", {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name:
            headers[name] = value.strip()
    return status, headers, payload
