"""A consistent, validated view of the state repository at one commit.

Every file is validated against ``schemas/`` when read. An invalid project is kept with its
problems (so it can be reported) and is never half-used: callers check ``valid`` first.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pygit2
from pydantic import BaseModel

from reconciler.state import layout
from schemas import (
    AppConfig,
    DeploymentFile,
    EnvFile,
    Problem,
    ProjectFile,
    SchemaError,
    ServiceAccountFile,
    TeamFile,
    load_toml,
)
from schemas.checks import project_problems
from schemas.errors import did_you_mean
from schemas.names import name_problem

ParseCache = MutableMapping[tuple[pygit2.Oid, type], Any]


@dataclass
class ProjectState:
    name: str
    tree_id: str
    project: ProjectFile | None = None
    app: AppConfig | None = None
    deployment: DeploymentFile | None = None
    env: EnvFile | None = None
    service_accounts: dict[str, ServiceAccountFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.project is not None and not self.problems


@dataclass
class Snapshot:
    commit: str
    projects: dict[str, ProjectState] = field(default_factory=dict)
    teams: dict[str, TeamFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def all_problems(self) -> list[Problem]:
        out = list(self.problems)
        for state in self.projects.values():
            out.extend(state.problems)
        return out

    def valid_projects(self) -> Iterator[ProjectState]:
        return (p for p in self.projects.values() if p.valid)


class _Reader:
    """Reads and validates blobs, reusing earlier parses of identical content."""

    def __init__(self, repo: pygit2.Repository, cache: ParseCache | None):
        self._repo = repo
        self._cache: ParseCache = cache if cache is not None else {}

    def parse(self, blob_id: pygit2.Oid, model: type[BaseModel], path: str) -> Any:
        key = (blob_id, model)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = load_toml(self._repo[blob_id].data, model, path)
            except SchemaError as exc:
                hit = exc
            except UnicodeDecodeError:
                hit = SchemaError([Problem(path, "file is not UTF-8 text")])
            self._cache[key] = hit
        if isinstance(hit, SchemaError):
            # Stored with the path of its first reader; report it with this one.
            raise SchemaError([Problem(path, p.message, p.loc) for p in hit.problems])
        return hit


def read_snapshot(
    repo: pygit2.Repository, commit: pygit2.Commit, cache: ParseCache | None = None
) -> Snapshot:
    snap = Snapshot(commit=str(commit.id))
    reader = _Reader(repo, cache)
    tree = commit.tree
    for entry in tree:
        if entry.name not in layout.TOP_LEVEL and entry.type == pygit2.GIT_OBJECT_TREE:
            snap.problems.append(
                Problem(
                    entry.name,
                    f"unknown folder{did_you_mean(entry.name, layout.TOP_LEVEL)}; "
                    "rise reads projects/, teams/ and service-accounts/",
                )
            )
    if layout.PROJECTS in tree:
        for entry in repo[tree[layout.PROJECTS].id]:
            snap.projects[entry.name] = _read_project(repo, reader, entry)
    if layout.TEAMS in tree:
        _read_teams(repo, reader, repo[tree[layout.TEAMS].id], snap)
    if layout.SERVICE_ACCOUNTS in tree:
        _read_service_accounts(repo, reader, repo[tree[layout.SERVICE_ACCOUNTS].id], snap)
    return snap


def _read_project(repo: pygit2.Repository, reader: _Reader, entry: Any) -> ProjectState:
    name = entry.name
    base = f"{layout.PROJECTS}/{name}"
    state = ProjectState(name=name, tree_id=str(entry.id))
    problem = name_problem(name, "project name")
    if problem:
        state.problems.append(Problem(base, problem))
        return state
    if entry.type != pygit2.GIT_OBJECT_TREE:
        state.problems.append(Problem(base, "must be a folder holding project.toml"))
        return state
    fields = {
        "project.toml": "project",
        ".rise.toml": "app",
        "deployment.toml": "deployment",
        "env.toml": "env",
    }
    for item in repo[entry.id]:
        path = f"{base}/{item.name}"
        model = layout.PROJECT_FILES.get(item.name)
        if model is None or item.type != pygit2.GIT_OBJECT_BLOB:
            hint = did_you_mean(item.name, layout.PROJECT_FILES)
            state.problems.append(Problem(path, f"unknown file in a project folder{hint}"))
            continue
        try:
            setattr(state, fields[item.name], reader.parse(item.id, model, path))
        except SchemaError as exc:
            state.problems.extend(exc.problems)
    if state.project is None and not any(p.file == f"{base}/project.toml" for p in state.problems):
        state.problems.append(Problem(f"{base}/project.toml", "missing: every project needs one"))
    if state.app and state.app.project and state.app.project != name:
        state.problems.append(
            Problem(
                f"{base}/.rise.toml",
                f"project = {state.app.project!r} does not match the folder name {name!r}",
            )
        )
    check_project(state)
    return state


def check_project(state: ProjectState) -> None:
    """Add the rules that span files (``schemas.checks``) for the files that parsed."""
    state.problems.extend(
        project_problems(state.name, state.project, state.app, state.deployment, state.env)
    )


def _read_teams(repo: pygit2.Repository, reader: _Reader, tree: Any, snap: Snapshot) -> None:
    for item in tree:
        path = f"{layout.TEAMS}/{item.name}"
        team, dot, ext = item.name.rpartition(".")
        problem = name_problem(team, "team name") if dot and ext == "toml" else None
        if not dot or ext != "toml" or item.type != pygit2.GIT_OBJECT_BLOB:
            snap.problems.append(Problem(path, "teams/ holds only <team>.toml files"))
        elif problem:
            snap.problems.append(Problem(path, problem))
        else:
            try:
                snap.teams[team] = reader.parse(item.id, TeamFile, path)
            except SchemaError as exc:
                snap.problems.extend(exc.problems)


def read_project(
    repo: pygit2.Repository, commit: pygit2.Commit, name: str, cache: ParseCache | None = None
) -> ProjectState | None:
    """One project at ``commit``, validated as a snapshot would; None when it does not exist.

    Reads only this project's files, so it costs the same in a repo of 10,000 projects.
    """
    try:
        entry = commit.tree[f"{layout.PROJECTS}/{name}"]
    except (KeyError, ValueError):
        return None
    reader = _Reader(repo, cache)
    state = _read_project(repo, reader, entry)
    try:
        accounts = commit.tree[f"{layout.SERVICE_ACCOUNTS}/{name}"]
    except (KeyError, ValueError):
        accounts = None
    if accounts is not None and accounts.type == pygit2.GIT_OBJECT_TREE:
        _read_accounts(repo, reader, accounts, state)
    return state


def _read_service_accounts(
    repo: pygit2.Repository, reader: _Reader, tree: Any, snap: Snapshot
) -> None:
    for folder in tree:
        base = f"{layout.SERVICE_ACCOUNTS}/{folder.name}"
        owner = snap.projects.get(folder.name)
        if owner is None or folder.type != pygit2.GIT_OBJECT_TREE:
            hint = did_you_mean(folder.name, snap.projects)
            snap.problems.append(Problem(base, f"no project {folder.name!r}{hint}"))
            continue
        _read_accounts(repo, reader, repo[folder.id], owner)


def _read_accounts(
    repo: pygit2.Repository, reader: _Reader, folder: Any, owner: ProjectState
) -> None:
    base = f"{layout.SERVICE_ACCOUNTS}/{owner.name}"
    for item in folder:
        path = f"{base}/{item.name}"
        account, dot, ext = item.name.rpartition(".")
        problem = name_problem(account, "service account name")
        if not dot or ext != "toml" or problem:
            owner.problems.append(Problem(path, problem or "expected <name>.toml"))
            continue
        try:
            owner.service_accounts[account] = reader.parse(item.id, ServiceAccountFile, path)
        except SchemaError as exc:
            owner.problems.extend(exc.problems)
