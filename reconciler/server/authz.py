"""Who may see, change and deploy what (SPEC §6).

- A project is owned by one user or one team. The owner user, the team's owners and members,
  and admins may change and deploy it; anyone logged in may read a public project.
- A private project the caller may not read does not exist for them: callers answer 404 with
  the same body as for a missing project, so names never leak.
- Admins (``[auth] admins`` or the first admin of the local user store) skip every check.
- Policy settings (``review``, ``max_replicas``, ``max_cpu``, ``max_memory``) limit the
  project's own team, so only admins set them.
- Giving a project away needs owner rights on both sides: the owner user or an owner of the
  owning team, and the new owner user or an owner of the new team.

Functions take a team lookup rather than a snapshot so a write can decide against the very
tree it commits on (inside the change function), not against an older read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from reconciler.server.errors import ApiError
from reconciler.state import Snapshot
from schemas import Owner, ProjectFile, TeamFile
from schemas.errors import suggest
from schemas.project import ProjectSettings

TeamLookup = Callable[[str], TeamFile | None]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    username: str
    is_admin: bool = False
    kind: Literal["user", "service-account"] = "user"
    project: str | None = None
    """A service account's project: the only one it may touch (``service_account_route``)."""


class Access(IntEnum):
    NONE = 0
    READ = 1
    CHANGE = 2


def project_access(
    principal: Principal, project: ProjectFile, team: TeamLookup, name: str | None = None
) -> Access:
    """What ``principal`` may do with ``project``; a service account may change its own
    project (called ``name``) and nothing else, public or not."""
    if principal.kind == "service-account":
        return Access.CHANGE if name is not None and name == principal.project else Access.NONE
    if principal.is_admin or _owns(principal, project.owner, team):
        return Access.CHANGE
    return Access.READ if project.visibility == "public" else Access.NONE


def project_actions(snapshot: Snapshot, user: Principal, project: str) -> set[str]:
    """Registry actions on ``project``'s images: ``push`` = may deploy, ``pull`` = may read."""
    state = snapshot.projects.get(project)
    if state is None or state.project is None:
        return set()
    access = project_access(user, state.project, snapshot.teams.get, project)
    return {Access.NONE: set(), Access.READ: {"pull"}, Access.CHANGE: {"pull", "push"}}[access]


def may_manage_project(principal: Principal, project: ProjectFile, team: TeamLookup) -> bool:
    """Owner rights: the owner user, an owner of the owning team, or an admin."""
    if principal.kind != "user":
        return False
    return principal.is_admin or _owner_rights(principal, Owner.parse(project.owner), team)


def service_account_route(
    principal: Principal, method: str, route: str, project: str | None
) -> None:
    """Refuse (403) a service account's request unless it is one of ``SERVICE_ACCOUNT_ROUTES``
    on its own project. An allow-list, so a route added later is closed to CI until listed."""
    if principal.kind != "service-account":
        return
    if (method, route) not in SERVICE_ACCOUNT_ROUTES:
        raise ApiError(
            403,
            "forbidden",
            f"service account {principal.username!r} may not {method} {route}",
            "service accounts may only deploy, list, show and stop their project's deployments",
        )
    if project is not None and project != principal.project:
        raise ApiError(
            403,
            "forbidden",
            f"service account {principal.username!r} belongs to project "
            f"{principal.project!r} and may not use project {project!r}",
            f"create a service account in project {project!r} for this pipeline",
        )


_DEPLOYMENTS = "/api/v1/projects/{project}/deployments"
SERVICE_ACCOUNT_ROUTES = frozenset(
    {
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/projects/{project}"),
        ("GET", _DEPLOYMENTS),
        ("POST", _DEPLOYMENTS),
        ("POST", f"{_DEPLOYMENTS}/stop"),
        ("GET", f"{_DEPLOYMENTS}/{{deployment}}"),
        # the push before a deploy; project_actions grants push on its own project only
        ("POST", "/api/v1/projects/{project}/registry-credentials"),
        ("GET", "/api/v1/registry/token"),
    }
)


def may_manage_team(principal: Principal, team: TeamFile) -> bool:
    return principal.is_admin or principal.username in team.owners


def may_see_team(principal: Principal, team: TeamFile) -> bool:
    return principal.is_admin or team.includes(principal.username)


def usable_teams(principal: Principal, teams: Iterable[str], team: TeamLookup) -> list[str]:
    """The teams ``principal`` may give projects to."""
    out = []
    for name in teams:
        found = team(name)
        if found is not None and (principal.is_admin or found.includes(principal.username)):
            out.append(name)
    return sorted(out)


def check_owner(principal: Principal, owner: Owner, teams: Iterable[str], team: TeamLookup) -> None:
    """Raise the transcript's refusal unless ``principal`` may make ``owner`` own a project.

    A team that does not exist and a team the caller is not in get the same message, and the
    close match is chosen only among teams the caller may use.
    """
    if owner.kind == "user":
        if principal.is_admin or owner.name == principal.username:
            return
        raise ApiError(
            403,
            "owner_refused",
            f"You may not create projects for user '{owner.name}'; use "
            f"user:{principal.username} or a team you belong to.",
            "admins may assign projects to any user",
        )
    found = team(owner.name)
    if found is not None and (principal.is_admin or found.includes(principal.username)):
        return
    allowed = usable_teams(principal, teams, team)
    match = suggest(owner.name, allowed)
    raise ApiError(
        403,
        "owner_refused",
        f"Team '{owner.name}' does not exist or you do not have permission to create projects "
        f"for it.{f' Did you mean {match!r}?' if match else ''}",
        f"teams you may use: {', '.join(allowed)}"
        if allowed
        else "create a team with 'rise team create' or ask a team owner to add you",
    )


def check_policy(principal: Principal, old: ProjectSettings, new: ProjectSettings) -> None:
    """Raise a 403 unless ``principal`` may change ``old`` policy settings into ``new``."""
    if principal.is_admin or old == new:
        return
    fields = type(new).model_fields
    changed = sorted(key for key in fields if getattr(old, key) != getattr(new, key))
    raise ApiError(
        403,
        "policy_admins_only",
        f"only admins may set a project's policy settings ({', '.join(changed)}): they limit "
        "the very users who could otherwise change them",
        "leave 'settings' out, or ask an admin to set it",
    )


def check_transfer(principal: Principal, old: Owner, new: Owner, team: TeamLookup) -> None:
    """Raise a 403 unless ``principal`` has owner rights on ``old`` and on ``new``."""
    if principal.is_admin:
        return
    for side, owner in (("current", old), ("new", new)):
        if not _owner_rights(principal, owner, team):
            who = "that user" if owner.kind == "user" else f"an owner of team {owner.name!r}"
            raise ApiError(
                403,
                "owner_refused",
                f"only {who} may give a project {'away' if side == 'current' else 'to it'}: "
                f"moving a project needs owner rights on both sides ({old} -> {new})",
                "ask an owner of both sides, or an admin, to move it",
            )


def _owner_rights(principal: Principal, owner: Owner, team: TeamLookup) -> bool:
    if owner.kind == "user":
        return owner.name == principal.username
    found = team(owner.name)
    return found is not None and principal.username in found.owners


def _owns(principal: Principal, owner: str, team: TeamLookup) -> bool:
    # ``owner`` was validated when its file was read: "user:<name>" or "team:<name>".
    kind, _, name = owner.partition(":")
    if kind == "user":
        return name == principal.username
    found = team(name)
    return found is not None and found.includes(principal.username)
