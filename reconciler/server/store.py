"""The server's door to the state repository: cached snapshots and gated commits.

Reads come from a snapshot of the branch head, rebuilt only when the head moves. Writes go
through ``commit``, authored as the caller; when the server shuts down the gate closes, so a
commit has either completed or never started (a half-done write is impossible anyway: the
branch moves by one atomic compare-and-swap).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import rtoml
from pydantic import BaseModel

from reconciler.server.errors import ApiError
from reconciler.server.metrics import Metrics
from reconciler.state import (
    Author,
    CommitConflict,
    CommitResult,
    Edit,
    ProjectState,
    Snapshot,
    StateRepo,
)
from reconciler.state.layout import PROJECT_FILES, PROJECTS, project_file
from reconciler.state.snapshot import check_project
from schemas import Problem, SchemaError, load_toml

Reader = Callable[[str], bytes | None]
_FIELDS = {
    "project.toml": "project",
    ".rise.toml": "app",
    "deployment.toml": "deployment",
    "env.toml": "env",
}

log = logging.getLogger("rise.state")

M = TypeVar("M", bound=BaseModel)
ChangeFn = Callable[[Edit], str | None]


class ShuttingDown(ApiError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "shutting_down",
            "the server is shutting down and accepts no more changes",
            "retry in a moment; another replica or the restarted server will take it",
            headers={"Retry-After": "5"},
        )


class Store:
    def __init__(self, repo: StateRepo, metrics: Metrics):
        self.repo = repo
        self._metrics = metrics
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._gate = threading.Condition()
        self._writing = 0
        self._closed = False

    def snapshot(self) -> Snapshot:
        """The validated state at the branch head; reused until the head moves."""
        head = self.repo.head()
        cached = self._snapshot
        if cached is not None and cached.commit == head:
            return cached
        with self._snapshot_lock:  # one rebuild per new head, however many readers wait
            cached = self._snapshot
            if cached is None or cached.commit != self.repo.head():
                cached = self._snapshot = self.repo.snapshot()
            return cached

    def commit(self, change: ChangeFn, author: str, **where: Any) -> CommitResult:
        """Run ``change`` as one commit authored as ``author``; ApiErrors abort it.

        ``where`` goes to ``StateRepo.commit`` (a review's ``branch`` and ``start``, a
        ``merge`` parent, ``allow_empty``)."""
        with self._gate:
            if self._closed:
                raise ShuttingDown()
            self._writing += 1
        try:
            result = self.repo.commit(_validated(change), Author(author), **where)
        except ApiError:
            self._metrics.count_commit("refused")
            raise
        except CommitConflict:
            self._metrics.count_commit("conflict")
            raise
        finally:
            with self._gate:
                self._writing -= 1
                self._gate.notify_all()
        self._metrics.count_commit("committed" if result.commit else "unchanged")
        if result.commit:
            log.info(
                "committed",
                extra={"commit": result.commit, "author": author, "attempts": result.attempts},
            )
        return result

    def close(self, timeout: float) -> bool:
        """Refuse new commits and wait for those in flight; False if some outlived ``timeout``."""
        with self._gate:
            self._closed = True
            return self._gate.wait_for(lambda: self._writing == 0, timeout)

    @property
    def closed(self) -> bool:
        return self._closed


def read_project(read: Reader, name: str) -> ProjectState | None:
    """A project's files parsed like a snapshot would (problems kept); None if it has none."""
    state = ProjectState(name=name, tree_id="")
    found = False
    for file, attribute in _FIELDS.items():
        path = project_file(name, file)
        data = read(path)
        if data is None:
            continue
        found = True
        try:
            setattr(state, attribute, load_toml(data, PROJECT_FILES[file], path))
        except SchemaError as exc:
            state.problems.extend(exc.problems)
    if not found:
        return None
    if state.project is None and not state.problems:
        path = project_file(name, "project.toml")
        state.problems.append(Problem(path, "missing: every project needs one"))
    check_project(state)
    return state


def refuse_invalid(edit: Edit) -> None:
    """Raise a 400 when the staged change makes a project break a rule it did not break.

    The rules are the snapshot's (``check_project``), so nothing the API commits is refused
    later by the reconciler or ``rise state validate``; problems that were there before the
    change are not this writer's to fix.
    """
    for name in sorted(_touched_projects(edit)):
        after = read_project(edit.read, name)
        if after is None or not after.problems:
            continue
        before = read_project(edit.read_base, name)
        known = {str(p) for p in before.problems} if before is not None else set()
        new = [str(p) for p in after.problems if str(p) not in known]
        if new:
            raise ApiError(
                400,
                "invalid_change",
                f"this change would make project {name!r} invalid: {new[0]}",
                "nothing was written; fix the value named above (rise state validate checks a "
                "state repository the same way)",
                problems=new,
            )


def _touched_projects(edit: Edit) -> set[str]:
    names = set()
    for path in edit.staged_paths():
        top, _, rest = path.partition("/")
        if top == PROJECTS and rest:
            names.add(rest.split("/", 1)[0])
    return names


def _validated(change: ChangeFn) -> ChangeFn:
    def run(edit: Edit) -> str | None:
        message = change(edit)
        if message is not None:
            refuse_invalid(edit)
        return message

    return run


def read_model(edit: Edit, path: str, model: type[M]) -> M | None:
    """Parse ``path`` as ``model`` inside a change; an invalid file aborts with a 409."""
    data = edit.read(path)
    if data is None:
        return None
    try:
        return load_toml(data, model, path)
    except SchemaError as exc:
        raise ApiError(
            409,
            "invalid_state",
            f"{path} in the state repository is invalid: {exc.problems[0].message}",
            "fix the file in the state repository (rise state validate lists every problem)",
            problems=[str(p) for p in exc.problems],
        ) from None


def write_model(edit: Edit, path: str, model: BaseModel) -> None:
    edit.write(path, dump_toml(model.model_dump(mode="python", exclude_none=True, by_alias=True)))


def dump_toml(data: dict[str, Any]) -> str:
    return str(rtoml.dumps(data))
