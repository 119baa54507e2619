"""Finding a project the caller may use — at the branch head for reads, in the edit for writes.

Only the project's own files (and its team's) are read, so a request about one project costs
the same in a repo of ten projects or ten thousand. A write decides against the tree it
commits on: the change function may run again on a newer head, and so does its check.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.server.authz import Access, Principal, TeamLookup, project_access
from reconciler.server.errors import ApiError, not_found
from reconciler.server.store import Reader, Store, read_project
from reconciler.state import Edit, ProjectState
from reconciler.state.layout import TEAMS, team_file
from schemas import Problem, ProjectFile, SchemaError, TeamFile, load_toml

_PROJECTS_HINT = "check the name with 'rise project list'"


def project_not_found(name: str) -> ApiError:
    return not_found("project", name, _PROJECTS_HINT)


def visible_project(
    store: Store, principal: Principal, name: str, need: Access = Access.READ
) -> ProjectState:
    """The project at the branch head, reading only its own files (and its team's).

    404 when it is missing or invisible to ``principal``, 403 when ``need`` is more than the
    caller may do. Blocking: call it off the event loop.
    """
    return visible_project_access(store, principal, name, need)[0]


def visible_project_access(
    store: Store, principal: Principal, name: str, need: Access = Access.READ
) -> tuple[ProjectState, Access]:
    """``visible_project`` and what ``principal`` may do with it."""
    read = head_reader(store)
    teams = read_teams(read)
    state = _checked(read_project(read, name), principal, name, need, teams)
    if state.project is None:
        return state, Access.CHANGE  # an invalid project: only admins get this far
    return state, project_access(principal, state.project, teams, name)


def editable_project(
    edit: Edit, principal: Principal, name: str, need: Access = Access.CHANGE
) -> ProjectFile:
    """The project file inside a change, after the same checks as ``visible_project``."""
    state = _checked(read_project(edit.read, name), principal, name, need, read_teams(edit.read))
    assert state.project is not None  # _checked lets only admins' reads through without one
    return state.project


def head_reader(store: Store) -> Reader:
    """Reads of one commit: the head when called, even if the branch moves meanwhile."""
    commit = store.repo.head()
    return lambda path: store.repo.read(path, commit)


def read_teams(read: Reader) -> TeamLookup:
    """Team lookups through ``read``; an invalid team file counts as no team."""

    def lookup(team: str) -> TeamFile | None:
        data = read(team_file(team))
        if data is None:
            return None
        try:
            return load_toml(data, TeamFile, team_file(team))
        except SchemaError:
            return None

    return lookup


def team_names(edit: Edit) -> list[str]:
    return [name.removesuffix(".toml") for name in edit.list(TEAMS) if name.endswith(".toml")]


def _checked(
    state: ProjectState | None, principal: Principal, name: str, need: Access, teams: TeamLookup
) -> ProjectState:
    if state is None:
        raise project_not_found(name)
    if state.project is None:
        if principal.is_admin and need == Access.READ:
            return state  # an invalid project: only admins learn it exists
        raise _invalid(name, state.problems) if principal.is_admin else project_not_found(name)
    _require(project_access(principal, state.project, teams, name), need, name)
    return state


def _require(access: Access, need: Access, name: str) -> None:
    if access == Access.NONE:
        raise project_not_found(name)
    if access < need:
        raise ApiError(
            403,
            "forbidden",
            f"you may see project {name!r} but not change it",
            "ask an owner of the project (or of its team) to add you to the team",
        )


def _invalid(name: str, found: Sequence[Problem]) -> ApiError:
    problems = [str(p) for p in found]
    return ApiError(
        409,
        "invalid_project",
        f"project {name!r} is invalid in the state repository: {problems[0]}",
        "fix the files in the state repository (rise state validate lists every problem)",
        problems=problems,
    )
