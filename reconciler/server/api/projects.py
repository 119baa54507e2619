"""``/api/v1/projects``: create, list, show, update and delete projects."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.registry import ProviderError
from reconciler.server.api._access import (
    editable_project,
    read_project,
    read_teams,
    team_names,
    visible_project_access,
)
from reconciler.server.api._http import blocking, caller, path_name, read_body, respond, snapshot
from reconciler.server.api._views import project_detail, project_row, written_project
from reconciler.server.authz import (
    Access,
    Principal,
    TeamLookup,
    check_owner,
    check_policy,
    check_transfer,
    project_access,
)
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.store import write_model
from reconciler.state import Edit, ProjectState
from reconciler.state.layout import SERVICE_ACCOUNTS, project_dir, project_file
from schemas import Owner, ProjectFile
from schemas.api import Deleted, ProjectCreate, ProjectDetail, ProjectRow, ProjectUpdate
from schemas.project import ProjectSettings

log = logging.getLogger("rise.server")

_TAG = "projects"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def list_projects(request: Request) -> Response:
        principal = await caller(request, ctx)
        snap = await snapshot(ctx)
        rows = [
            project_row(ctx, state)
            for name, state in sorted(snap.projects.items())
            if listed_for(principal, state, snap.teams.get)
        ]
        return respond(rows)

    async def create_project(request: Request) -> Response:
        principal = await caller(request, ctx)
        body = await read_body(request, ProjectCreate)
        request.state.project = body.name
        owner = Owner.parse(body.owner or f"user:{principal.username}")
        check_policy(principal, ProjectSettings(), body.settings or ProjectSettings())
        project = ProjectFile(
            owner=str(owner),
            visibility=body.visibility,
            created_at=ctx.now(),
            created_by=principal.username,
            settings=body.settings or ProjectSettings(),
        )

        def change(edit: Edit) -> str:
            # The owner first: a name taken by a private project must not answer differently
            # from any other refused owner.
            check_owner(principal, owner, team_names(edit), read_teams(edit.read))
            if edit.exists(project_dir(body.name)):
                raise ApiError(
                    409,
                    "already_exists",
                    f"project {body.name!r} already exists",
                    "project names are global (they become hostnames); choose another name",
                )
            write_model(edit, project_file(body.name, "project.toml"), project)
            return f"create project {body.name} ({body.visibility}, owned by {owner})"

        result = await blocking(ctx.store.commit, change, principal.username)
        await blocking(_ensure_repository, ctx, body.name)
        state = ProjectState(name=body.name, tree_id="", project=project)
        return respond(written_project(ctx, state, result.commit), 201)

    async def show_project(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        state, access = await blocking(visible_project_access, ctx.store, principal, name)
        return respond(project_detail(ctx, state, show_env=access >= Access.CHANGE))

    async def update_project(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)
        body = await read_body(request, ProjectUpdate)
        written: list[ProjectState] = []

        def change(edit: Edit) -> str | None:
            written.clear()
            current = editable_project(edit, principal, name)
            updates = body.model_dump(exclude_none=True, exclude_unset=True)
            if body.owner is not None and body.owner != current.owner:
                teams = read_teams(edit.read)
                new_owner = Owner.parse(body.owner)
                check_owner(principal, new_owner, team_names(edit), teams)
                check_transfer(principal, Owner.parse(current.owner), new_owner, teams)
            if body.settings is not None:
                # Only the fields named change: a PATCH never resets the others to defaults.
                named = body.settings.model_dump(include=body.settings.model_fields_set)
                updates["settings"] = current.settings.model_copy(update=named)
                check_policy(principal, current.settings, updates["settings"])
            new = current.model_copy(update=updates)
            if new != current:
                write_model(edit, project_file(name, "project.toml"), new)
            state = read_project(edit.read, name)
            assert state is not None  # editable_project has just read its project.toml
            written.append(state)
            said = ", ".join(f"{key} {value}" for key, value in _said(updates).items())
            return f"update project {name}: {said}" if new != current else None

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(written_project(ctx, written[-1], result.commit))

    async def delete_project(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        principal = await caller(request, ctx)

        def change(edit: Edit) -> str:
            editable_project(edit, principal, name)
            edit.delete(project_dir(name))
            if edit.exists(f"{SERVICE_ACCOUNTS}/{name}"):
                edit.delete(f"{SERVICE_ACCOUNTS}/{name}")
            return f"delete project {name}"

        result = await blocking(ctx.store.commit, change, principal.username)
        ctx.signal(f"project {name} deleted by {principal.username}", {name})
        return respond(Deleted(name=name, commit=result.commit))

    return [
        ApiRoute(
            "/api/v1/projects",
            list_projects,
            "GET",
            Operation("List the projects you may see", response=ProjectRow, many=True, tag=_TAG),
        ),
        ApiRoute(
            "/api/v1/projects",
            create_project,
            "POST",
            Operation(
                "Create a project",
                body=ProjectCreate,
                response=ProjectDetail,
                status=201,
                errors=(403, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/projects/{project}",
            show_project,
            "GET",
            Operation("Show a project", response=ProjectDetail, errors=(404,), tag=_TAG),
        ),
        ApiRoute(
            "/api/v1/projects/{project}",
            update_project,
            "PATCH",
            Operation(
                "Change a project's owner, visibility or settings",
                body=ProjectUpdate,
                response=ProjectDetail,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            "/api/v1/projects/{project}",
            delete_project,
            "DELETE",
            Operation(
                "Delete a project (its app is removed by the reconciler)",
                response=Deleted,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
    ]


def listed_for(principal: Principal, state: ProjectState, teams: TeamLookup) -> bool:
    """Whether ``principal`` may see the project at all: the API's list and the dashboard's."""
    if state.project is None:
        return principal.is_admin  # invalid: only admins may learn it exists
    return project_access(principal, state.project, teams) >= Access.READ


def _said(updates: dict[str, object]) -> dict[str, object]:
    return {key: "changed" if key == "settings" else value for key, value in updates.items()}


def _ensure_repository(ctx: ServerContext, project: str) -> None:
    """Create the project's image repository up front (ECR); a failure is not fatal, because
    the first push-credentials request creates it again."""
    try:
        ctx.registry.ensure_repository(project)
    except ProviderError as exc:
        log.warning("could not create the image repository of %s: %s", project, exc)
