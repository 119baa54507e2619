"""``/api/v1/projects/{project}/deployments``: deploy, list, show, stop, roll back.

A deployment is a commit of ``projects/<name>/deployment.toml`` (plus the app's
``.rise.toml`` when given); the list is that file's git history, with status from the
reconciler. Rollback is a new deployment restoring an earlier one's image and config.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.server.api._access import editable_project, visible_project
from reconciler.server.api._http import (
    blocking,
    caller,
    path_name,
    query_int,
    read_body,
    respond,
)
from reconciler.server.api._views import deployment_info
from reconciler.server.authz import Access, Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError, from_schema_error, not_found
from reconciler.server.openapi import ApiRoute, Operation, Query
from reconciler.server.reviewing import live_reader
from reconciler.server.store import dump_toml, read_model, write_model
from reconciler.state import Edit, ProjectState
from reconciler.state.layout import project_file
from reconciler.state.repo import COMMITTER
from reconciler.state.reviews import APPROVED_BY, parse_trailers, review_branch
from schemas import AppConfig, DeploymentFile, ProjectFile, SchemaError, load_toml, parse_model
from schemas.api import DeploymentCreate, DeploymentDryRun, DeploymentInfo, ObjectChange
from schemas.deployment import DeploymentId

_TAG = "deployments"
_DEFAULT_LIMIT, _MAX_LIMIT = 50, 1000
_DEPLOYMENT_ID: TypeAdapter[str] = TypeAdapter(DeploymentId)


@dataclass(frozen=True)
class RecordedDeployment:
    """One deployment as found in history: its latest content and the commit that made it."""

    deployment: DeploymentFile
    commit: str
    approved_by: list[str] = field(default_factory=list)
    pushed_by: str | None = None
    """The author of its latest change when that was pushed to git, not made by rise."""
    committed_at: datetime | None = None
    """When the commit that made it was written."""


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def create_deployment(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        body = await read_body(request, DeploymentCreate)
        if _dry_run_asked(request):
            return await _dry_run(ctx, principal, name, body)
        return await _deploy(ctx, principal, name, body)

    async def rollback_deployment(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        body = DeploymentCreate.model_validate({"from": deployment_id(request)})
        return await _deploy(ctx, principal, name, body)

    async def list_deployments(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        state = await blocking(visible_project, ctx.store, principal, name)
        limit = query_int(request, "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        recorded = await blocking(deployment_history, ctx, name, limit)
        rows = [_info(ctx, name, r, state.deployment) for r in recorded]
        return respond(rows)

    async def show_deployment(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        wanted = deployment_id(request)
        principal = await caller(request, ctx)
        state = await blocking(visible_project, ctx.store, principal, name)
        found = await blocking(find_deployment, ctx, name, wanted)
        return respond(_info(ctx, name, found, state.deployment))

    async def stop_deployment(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        stopped: list[DeploymentFile] = []

        def change(edit: Edit) -> str | None:
            stopped.clear()
            editable_project(edit, principal, name)
            current = read_model(edit, project_file(name, "deployment.toml"), DeploymentFile)
            if current is None:
                raise ApiError(
                    409,
                    "not_deployed",
                    f"project {name!r} has no deployment to stop",
                    "deploy it first with 'rise deploy'",
                )
            new = current.model_copy(update={"state": "stopped"})
            stopped.append(new)
            if current.state == "stopped":
                return None
            write_model(edit, project_file(name, "deployment.toml"), new)
            return f"stop {name} {current.id}"

        result = await blocking(ctx.store.commit, change, principal.username)
        if result.commit:
            ctx.signal(f"stop {name} by {principal.username}", {name})
        return respond(deployment_info(ctx, name, stopped[-1], stopped[-1], result.commit))

    base = "/api/v1/projects/{project}/deployments"
    return [
        ApiRoute(
            base,
            create_deployment,
            "POST",
            Operation(
                "Deploy an image (pinned by digest), or redeploy an earlier deployment ('from')",
                body=DeploymentCreate,
                response=DeploymentInfo,
                status=201,
                query={
                    "dry_run": Query(
                        "true: commit nothing; answer the diff the deploy would make "
                        "(DeploymentDryRun, 200)",
                        {"type": "boolean"},
                    )
                },
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            base,
            list_deployments,
            "GET",
            Operation(
                "Deployment history, newest first, with live status",
                response=DeploymentInfo,
                many=True,
                query={
                    "limit": Query(
                        f"history entries to read (default {_DEFAULT_LIMIT})",
                        {"type": "integer", "minimum": 1, "maximum": _MAX_LIMIT},
                    )
                },
                errors=(404,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{base}/stop",
            stop_deployment,
            "POST",
            Operation(
                "Stop the project's app (state = stopped)",
                response=DeploymentInfo,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{base}/{{deployment}}",
            show_deployment,
            "GET",
            Operation("Show one deployment", response=DeploymentInfo, errors=(404,), tag=_TAG),
        ),
        ApiRoute(
            f"{base}/{{deployment}}/rollback",
            rollback_deployment,
            "POST",
            Operation(
                "Redeploy an earlier deployment as a new one",
                response=DeploymentInfo,
                status=201,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
    ]


async def _deploy(
    ctx: ServerContext, principal: Principal, name: str, body: DeploymentCreate
) -> Response:
    if (body.image is None) == (body.from_ is None):
        raise ApiError(
            400,
            "invalid_body",
            "give either 'image' (pinned by digest) or 'from' (an earlier deployment id)",
            "rise deploy --image IMAGE@sha256:..., or rise deploy --from 20261122-153012-ab12",
        )
    app = _app_config(name, body.app_config)
    # Check access before reading history: it must not reveal anything of a private project.
    await blocking(visible_project, ctx.store, principal, name, Access.CHANGE)
    source = await blocking(find_deployment, ctx, name, body.from_) if body.from_ else None
    if app is None and source is not None:
        app = await blocking(_app_at, ctx, name, source.commit)
    deployment = _new_deployment(ctx, principal, body, source)

    review = deployment.id if body.review else None

    def change(edit: Edit) -> str:
        # Caps, environments and reserved names are checked on the written tree by the one
        # validator (Store.commit -> schemas.checks), as the reconciler will check them.
        _check_review(name, editable_project(edit, principal, name), reviewed=review is not None)
        write_model(edit, project_file(name, "deployment.toml"), deployment)
        if app is not None:
            edit.write(project_file(name, ".rise.toml"), _app_toml(name, app))
        if deployment.rollback_of:
            return f"rollback {name} to {deployment.rollback_of} as {deployment.id}"
        return f"deploy {name} {deployment.id} ({deployment.image})"

    if review is not None:
        where = {"branch": review_branch(name, review), "start": ctx.store.repo.head()}
        commit = functools.partial(ctx.store.commit, change, principal.username, **where)
        result = await blocking(commit)
        info = deployment_info(ctx, name, deployment, deployment, result.commit)
        return respond(info.model_copy(update={"status": "in_review", "review": review}), 202)
    result = await blocking(ctx.store.commit, change, principal.username)
    ctx.signal(f"deploy {name} {deployment.id} by {principal.username}", {name})
    return respond(deployment_info(ctx, name, deployment, deployment, result.commit), 201)


def _new_deployment(
    ctx: ServerContext,
    principal: Principal,
    body: DeploymentCreate,
    source: RecordedDeployment | None,
) -> DeploymentFile:
    base = source.deployment if source else None
    return DeploymentFile(
        id=ctx.ids.new(),
        image=body.image or (base.image if base else ""),
        group=body.group or (base.group if base else "default"),
        state="running",
        replicas=body.replicas if body.replicas is not None else (base.replicas if base else None),
        environment=body.environment or (base.environment if base else None),
        created_by=f"{principal.kind}:{principal.username}",
        created_at=ctx.now(),
        rollback_of=base.id if base else None,
    )


def _app_config(name: str, raw: dict[str, object] | None) -> AppConfig | None:
    if raw is None:
        return None
    try:
        app = parse_model(raw, AppConfig, ".rise.toml")
    except SchemaError as exc:
        raise from_schema_error(exc, "fix the app's .rise.toml (see docs/rise-toml.md)") from None
    if app.project is not None and app.project != name:
        raise ApiError(
            400,
            "project_mismatch",
            f".rise.toml says project = {app.project!r}, but this deploys {name!r}",
            "deploy from the app's folder, or fix 'project' in its .rise.toml",
        )
    return app


def _app_at(ctx: ServerContext, name: str, commit: str) -> AppConfig | None:
    """The app config a rollback restores: the .rise.toml of the deployment's commit."""
    path = project_file(name, ".rise.toml")
    data = ctx.store.repo.read(path, commit)
    try:
        return load_toml(data, AppConfig, path) if data is not None else None
    except SchemaError:
        return None  # that version was invalid; keep the current one


def _app_toml(name: str, app: AppConfig) -> str:
    data = app.model_dump(mode="python", exclude_unset=True, exclude_none=True)
    data.pop("project", None)
    return dump_toml({"project": name, **data})


def _check_review(name: str, project: ProjectFile, *, reviewed: bool) -> None:
    if project.settings.review == "required" and not reviewed:
        raise ApiError(
            409,
            "review_required",
            f"project {name!r} requires a review for every deployment; nothing was deployed",
            "deploy with 'rise deploy --review' (API: \"review\": true), then ask a teammate "
            "to 'rise review approve' it",
        )


def deployment_history(
    ctx: ServerContext, name: str, limit: int | None
) -> list[RecordedDeployment]:
    """Deployments newest first: each with its latest content and the commit that created it."""
    path = project_file(name, "deployment.toml")
    found: dict[str, RecordedDeployment] = {}
    lifetime = project_file(name, "project.toml")
    for entry in ctx.store.repo.history(path, limit=limit, within=lifetime):
        if entry.data is None:
            continue
        try:
            deployment = load_toml(entry.data, DeploymentFile, path)
        except SchemaError:
            continue  # an invalid version in history: nothing a user can redeploy
        latest = found.get(deployment.id)
        if latest is None:
            approvals = [v for k, v in parse_trailers(entry.message) if k == APPROVED_BY]
            pushed = entry.author if entry.committer != COMMITTER[0] else None
            latest = RecordedDeployment(deployment, entry.commit, approvals, pushed)
        found[deployment.id] = replace(latest, commit=entry.commit, committed_at=entry.time)
    return list(found.values())


def _info(
    ctx: ServerContext, name: str, recorded: RecordedDeployment, current: DeploymentFile | None
) -> DeploymentInfo:
    info = deployment_info(ctx, name, recorded.deployment, current, recorded.commit)
    update: dict[str, object] = {"approved_by": recorded.approved_by}
    if recorded.pushed_by is not None:
        update["created_by"] = f"git:{recorded.pushed_by}"  # pushed to git: its author deployed
    return info.model_copy(update=update)


def find_deployment(ctx: ServerContext, name: str, wanted: str) -> RecordedDeployment:
    for recorded in deployment_history(ctx, name, None):
        if recorded.deployment.id == wanted:
            return recorded
    raise not_found(
        "deployment", wanted, f"list the deployments of {name!r} with 'rise deployment list {name}'"
    )


def deployment_id(request: Request) -> str:
    value = str(request.path_params["deployment"])
    if value == "stop" and request.method != "POST":  # not an id: the stop action's path
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; use POST",
            "the API is described at /api/v1/openapi.json",
            headers={"Allow": "POST"},
        )
    try:
        return _DEPLOYMENT_ID.validate_python(value)
    except ValidationError:
        raise ApiError(
            400,
            "invalid_deployment_id",
            f"deployment id {value!r} must look like '20261122-153012-ab12'",
            "list the deployments with 'rise deployment list PROJECT'",
        ) from None


# -- dry run ---------------------------------------------------------------------------------


def _dry_run_asked(request: Request) -> bool:
    value = request.query_params.get("dry_run", "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid_query", "dry_run must be true or false", "e.g. ?dry_run=true")
    return value in ("true", "1")


async def _dry_run(
    ctx: ServerContext, principal: Principal, name: str, body: DeploymentCreate
) -> Response:
    """What ``_deploy`` would change, as a per-object diff; nothing is committed.

    The project with this deployment, rendered as the reconciler renders it, against the live
    objects when the runtime can read them (``kubernetes``: drift shows too), else against the
    project as the state repo holds it now. Secret values are masked on both sides.
    """
    app = _app_config(name, body.app_config)
    await blocking(visible_project, ctx.store, principal, name, Access.CHANGE)
    source = await blocking(find_deployment, ctx, name, body.from_) if body.from_ else None
    if app is None and source is not None:
        app = await blocking(_app_at, ctx, name, source.commit)
    return respond(await blocking(_dry_run_diff, ctx, principal, name, body, app, source))


def _dry_run_diff(
    ctx: ServerContext,
    principal: Principal,
    name: str,
    body: DeploymentCreate,
    app: AppConfig | None,
    source: RecordedDeployment | None,
) -> DeploymentDryRun:
    from reconciler.compare import diff_states, diff_with_live
    from reconciler.render import RenderSettings

    base = ctx.store.repo.head()
    current = ctx.store.repo.project(name, base)
    if current is None or current.project is None:
        raise not_found("project", name, "list your projects with 'rise p ls'")
    if body.image is None and body.from_ is None:
        # A dry run before a build: the diff of everything but the image still to be built.
        if current.deployment is None:
            raise ApiError(
                400,
                "invalid_body",
                f"project {name!r} has no deployment yet, so a dry run needs the image",
                "give the image: rise d c --dry-run --image IMAGE",
            )
        body = body.model_copy(update={"image": current.deployment.image})
    deployment = _new_deployment(ctx, principal, body, source)
    if current.deployment is not None:
        # Under the current id, so the diff shows what changes (image, env, replicas) rather
        # than a whole new Deployment object beside the old one, which every deploy rolls out.
        deployment = deployment.model_copy(update={"id": current.deployment.id})
    effective = app or current.app
    proposed: ProjectState = replace(current, deployment=deployment, app=effective)
    _refuse_new_problems(name, current, proposed)
    render = RenderSettings.from_config(ctx.config)
    read_live = live_reader(ctx.controller)
    if read_live is not None:  # what the deploy would change on the cluster, drift included
        result = diff_with_live(
            name, current, proposed, read_live, render, ctx.secrets, "this deploy"
        )
    else:
        labels = (f"current {(base or '')[:12]}", "this deploy")
        result = diff_states(name, current, proposed, render, None, labels)
    if result.problems:
        raise ApiError(
            422,
            "cannot_render",
            f"this deployment of {name!r} could not be rendered; nothing would be applied",
            "fix what the problems name (the app's .rise.toml, or the server's templates)",
            problems=[str(p) for p in result.problems],
        )
    diffs, warnings = result.diffs, result.warnings
    return DeploymentDryRun(
        project=name,
        image=deployment.image,
        environment=deployment.environment,
        base=base,
        compared_with="live" if read_live is not None else "main",
        changed=any(d.action != "unchanged" for d in diffs),
        objects=[ObjectChange.model_validate(d.to_json()) for d in diffs],
        warnings=warnings,
    )


def _refuse_new_problems(name: str, current: ProjectState, proposed: ProjectState) -> None:
    """The one validator's verdict on the proposed project, as a write would get it (400)."""
    from schemas.checks import project_problems

    def problems(state: ProjectState) -> list[str]:
        checked = project_problems(name, state.project, state.app, state.deployment, state.env)
        return [str(p) for p in checked]

    known = set(problems(current))
    new = [p for p in problems(proposed) if p not in known]
    if new:
        raise ApiError(
            400,
            "invalid_change",
            f"this deployment would make project {name!r} invalid: {new[0]}",
            "fix the value named above; nothing was written",
            problems=new,
        )
