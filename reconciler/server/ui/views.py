"""What the dashboard shows, read with the API's own view functions and access checks, so a
page shows exactly what the same person would get from the API (and nothing more)."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.render import RenderSettings
from reconciler.secrets import MASK
from reconciler.server.api._access import visible_project_access
from reconciler.server.api._views import deployment_info, project_detail, project_row
from reconciler.server.api.deployment_details import deployment_manifests, deployment_timeline
from reconciler.server.api.deployments import deployment_history, find_deployment
from reconciler.server.api.projects import listed_for
from reconciler.server.authz import Access, Principal, may_see_team
from reconciler.server.context import ServerContext
from reconciler.state import ProjectState, Snapshot
from reconciler.state.reviews import review_tips
from schemas.api import (
    DeploymentInfo,
    DeploymentManifests,
    DeploymentTimeline,
    ProjectDetail,
    ProjectRow,
    TeamInfo,
)

HISTORY_ROWS = 50


@dataclass(frozen=True)
class ProjectPage:
    detail: ProjectDetail
    history: list[DeploymentInfo]
    env: list[tuple[str, str, bool]]
    """(name, value shown, secret): values of secrets are always masked."""
    may_change: bool


def visible_rows(ctx: ServerContext, principal: Principal, snap: Snapshot) -> list[ProjectRow]:
    """The rows of ``rise p ls`` for ``principal``."""
    return [
        project_row(ctx, state)
        for _, state in sorted(snap.projects.items())
        if listed_for(principal, state, snap.teams.get)
    ]


def may_see(principal: Principal, snap: Snapshot, project: str) -> ProjectState | None:
    """The project's state when ``principal`` may see it, else None (as if it did not exist)."""
    state = snap.projects.get(project)
    if state is None or not listed_for(principal, state, snap.teams.get):
        return None
    return state


def project_page(ctx: ServerContext, principal: Principal, name: str) -> ProjectPage:
    """Blocking (reads git): call it off the event loop. 404 as the API answers it."""
    state, access = visible_project_access(ctx.store, principal, name)
    may_change = access >= Access.CHANGE
    current = state.deployment
    history = [
        deployment_info(ctx, name, r.deployment, current, r.commit)
        for r in deployment_history(ctx, name, HISTORY_ROWS)
    ]
    env: list[tuple[str, str, bool]] = []
    if may_change and state.env is not None:  # env names need the right the API asks for
        env = [(key, value, False) for key, value in sorted(state.env.vars.items())]
        env += [(key, MASK, True) for key in sorted(state.env.secrets)]
        env.sort()
    return ProjectPage(project_detail(ctx, state, show_env=may_change), history, env, may_change)


@dataclass(frozen=True)
class DeploymentPage:
    info: DeploymentInfo
    may_change: bool
    timeline: DeploymentTimeline
    manifests: DeploymentManifests | None
    """Only for those who may change the project (a rendered Deployment holds env values)."""


def deployment_page(
    ctx: ServerContext, settings: RenderSettings, principal: Principal, name: str, wanted: str
) -> DeploymentPage:
    """The deployment, its timeline and what it rendered and changed. Blocking."""
    state, access = visible_project_access(ctx.store, principal, name)
    found = find_deployment(ctx, name, wanted)
    info = deployment_info(ctx, name, found.deployment, state.deployment, found.commit)
    may_change = access >= Access.CHANGE
    manifests = deployment_manifests(ctx, settings, name, wanted) if may_change else None
    return DeploymentPage(info, may_change, deployment_timeline(ctx, name, wanted), manifests)


def visible_teams(principal: Principal, snap: Snapshot) -> list[TeamInfo]:
    return [
        TeamInfo(name=name, owners=team.owners, members=team.members)
        for name, team in sorted(snap.teams.items())
        if may_see_team(principal, team)
    ]


def access_to(ctx: ServerContext, principal: Principal, name: str) -> Access:
    """What ``principal`` may do with project ``name`` (404 when it may not see it). Blocking."""
    return visible_project_access(ctx.store, principal, name)[1]


def reviews_version(ctx: ServerContext) -> tuple[str | None, tuple[tuple[str, str | None], ...]]:
    """Main's head and every review branch's tip: what the list of reviews depends on."""
    repo = ctx.store.repo
    return repo.head(), review_tips(repo)
