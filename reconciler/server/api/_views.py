"""Desired state from git plus live status from the controller, shaped as API answers."""

from __future__ import annotations

from typing import Any

from reconciler.secrets import MASK
from reconciler.server.context import ServerContext
from reconciler.state import ProjectState
from schemas import AppConfig, DeploymentFile
from schemas.api import (
    DeploymentInfo,
    DeploymentRowStatus,
    ProjectDetail,
    ProjectRow,
    RowStatus,
    StatusState,
)


def deployment_status(
    ctx: ServerContext, project: str, deployment: DeploymentFile, current: DeploymentFile | None
) -> tuple[DeploymentRowStatus, str | None]:
    """What the reconciler says about ``deployment``. An older one is what the loop last saw
    of it (still serving beside a rollout, or stopped and replaced), else ``superseded``."""
    if current is None or current.id != deployment.id:
        seen = ctx.controller.deployments(project).get(deployment.id)
        return (seen.state, seen.reason) if seen is not None else ("superseded", None)
    return _current_status(ctx, project, deployment)


def _current_status(
    ctx: ServerContext, project: str, deployment: DeploymentFile
) -> tuple[StatusState, str | None]:
    live = ctx.controller.status(project)
    about_this = live is not None and live.deployment_id == deployment.id
    if deployment.state == "stopped":
        # Until the stop is reconciled the loop still reports this deployment as it was;
        # only a failure (say, the scale-down cannot be applied) says more than git does.
        if about_this and live is not None and live.state == "failed":
            return live.state, live.reason
        return "stopped", None
    if about_this and live is not None:
        return live.state, live.reason
    # The loop has not reported on this deployment yet (or there is no loop).
    return ("deploying", None) if live is not None else ("unknown", None)


def deployment_info(
    ctx: ServerContext,
    project: str,
    deployment: DeploymentFile,
    current: DeploymentFile | None,
    commit: str | None = None,
) -> DeploymentInfo:
    status, reason = deployment_status(ctx, project, deployment, current)
    return DeploymentInfo(
        id=deployment.id,
        project=project,
        image=deployment.image,
        group=deployment.group,
        state=deployment.state,
        replicas=deployment.replicas,
        environment=deployment.environment,
        rollback_of=deployment.rollback_of,
        created_by=deployment.created_by,
        created_at=deployment.created_at,
        status=status,
        reason=reason,
        commit=commit,
        url=ctx.app_url(project),
    )


def project_row(ctx: ServerContext, state: ProjectState) -> ProjectRow:
    return ProjectRow(
        name=state.name,
        owner=state.project.owner if state.project else None,
        visibility=state.project.visibility if state.project else None,
        url=ctx.app_url(state.name),
        status=_row_status(ctx, state),
        deployment_id=state.deployment.id if state.deployment else None,
        problems=[str(p) for p in state.problems],
    )


def project_detail(
    ctx: ServerContext, state: ProjectState, *, show_env: bool = True
) -> ProjectDetail:
    """The project as ``rise p show`` has it; ``show_env`` False masks the values of the
    ``.rise.toml`` env tables, which need the same right as ``env.toml`` values: change."""
    row = project_row(ctx, state)
    project = state.project
    deployment = state.deployment
    return ProjectDetail(
        **row.model_dump(),
        created_by=project.created_by if project else None,
        created_at=project.created_at if project else None,
        settings=project.settings if project else None,
        deployment=deployment_info(ctx, state.name, deployment, deployment) if deployment else None,
        app_config=_app_config(state.app, show_env) if state.app else None,
    )


def _app_config(app: AppConfig, show_env: bool) -> dict[str, Any]:
    data = app.model_dump(mode="json", exclude_unset=True)
    if show_env:
        return data
    tables = [data, *data.get("environments", {}).values()]
    for table in tables:
        if "env" in table:
            table["env"] = dict.fromkeys(table["env"], MASK)
    return data


def written_project(ctx: ServerContext, state: ProjectState, commit: str | None) -> ProjectDetail:
    """The answer to a project write, from the change's own view (no second repo read)."""
    return project_detail(ctx, state).model_copy(update={"commit": commit})


def _row_status(ctx: ServerContext, state: ProjectState) -> RowStatus:
    if not state.valid:
        return "invalid"
    if state.deployment is None:
        return "stopped"
    return _current_status(ctx, state.name, state.deployment)[0]
