"""The pre-receive check of pushes to the state repo that rise serves over git smart HTTP.

``git receive-pack`` runs this as its ``pre-receive`` hook (``python -m
reconciler.server.prereceive``) with the pushed objects still in quarantine: nothing is
visible to anyone until every check passed. It refuses, with the same lines as
``rise state validate``:

- an invalid state tree on the main branch or a review branch;
- a change to a project, its service accounts or a team the pusher may not make through
  the API either (authorization as in ``authz.py``; top-level files are for admins);
- a change of a deployment on main in a project whose policy requires review (push it to
  ``review/<project>/<id>`` instead);
- pushes to any other branch, and deleting or rewinding main (receive-pack's own settings).

The server passes the pusher as ``RISE_PUSHER`` / ``RISE_PUSHER_ADMIN`` and the main branch
as ``RISE_STATE_BRANCH``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from reconciler.server.authz import Access, Principal, may_manage_team, project_access
from reconciler.state import Snapshot, StateRepo, layout
from reconciler.state.check import validation_lines
from reconciler.state.reviews import PREFIX as REVIEW_PREFIX
from reconciler.state.reviews import first_author
from reconciler.state.trees import changed_paths, merge_base
from schemas.deployment import DeploymentId
from schemas.names import name_problem

ZERO = "0" * 40
_DEPLOYMENT_ID: TypeAdapter[str] = TypeAdapter(DeploymentId)


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def check_push(
    repo: StateRepo, updates: Iterable[Update], pusher: Principal, branch: str
) -> list[str]:
    """Why the push must be refused, one line each; empty when it may go in."""
    out: list[str] = []
    for update in updates:
        name = update.ref.removeprefix("refs/heads/")
        if not update.ref.startswith("refs/heads/") or not (
            name == branch or name.startswith(REVIEW_PREFIX)
        ):
            out.append(
                f"{update.ref}: rise takes pushes to {branch} and review/<project>/<id> only"
            )
            continue
        if update.new == ZERO:
            if name == branch:
                out.append(f"{update.ref}: the main branch cannot be deleted")
            continue
        out += _check_commit(repo, update, pusher, is_main=name == branch)
    return out


def _check_commit(
    repo: StateRepo, update: Update, pusher: Principal, *, is_main: bool
) -> list[str]:
    main = repo.head()
    base = update.old if update.old != ZERO else main and merge_base(repo, update.new, main)
    old = repo.snapshot(base) if base else Snapshot(commit=ZERO)
    new = repo.snapshot(update.new)
    problems, summary = validation_lines(new)
    # A project that was invalid before stays the business of whoever broke it: only what
    # this push makes invalid refuses it (as one invalid project never blocks the others).
    known, _ = validation_lines(old)
    if set(problems) - set(known):
        return [
            *problems,
            summary,
            f"{update.ref}: refused; fix the problems above (rise state validate lists them) "
            "and push again",
        ]
    paths = changed_paths(repo, base, update.new)
    out = _authorize(paths, old, new, pusher)
    if is_main:
        out += _review_policy(paths, old, update.ref)
    else:
        out += _review_branch(repo, update, base, pusher)
    return out


def _review_branch(
    repo: StateRepo, update: Update, base: str | None, pusher: Principal
) -> list[str]:
    """A review pushed over git must be named and authored as one the API would open."""
    project, _, review_id = update.ref.removeprefix(f"refs/heads/{REVIEW_PREFIX}").partition("/")
    if name_problem(project, "project name") or not _is_id(review_id):
        return [
            f"{update.ref}: name review branches review/<project>/<deployment id>, e.g. "
            f"review/shop/20261202-153012-ab12"
        ]
    author = first_author(repo, update.new, base)
    if not pusher.is_admin and author not in (None, pusher.username):
        return [
            f"{update.ref}: the review's first commit is authored by {author!r}, but you push "
            f"as {pusher.username!r}; author it as your rise user (git config user.name "
            f"{pusher.username}) so nobody approves their own review"
        ]
    return []


def _is_id(text: str) -> bool:
    try:
        _DEPLOYMENT_ID.validate_python(text)
    except ValidationError:
        return False
    return True


def _authorize(paths: set[str], old: Snapshot, new: Snapshot, pusher: Principal) -> list[str]:
    if pusher.is_admin:
        return []
    out = []
    projects = {p.split("/")[1] for p in paths if p.startswith(_DIRS) and p.count("/") >= 2}
    for name in sorted(projects):
        for side in (old, new):
            state = side.projects.get(name)
            if state is None or state.project is None:
                continue
            if project_access(pusher, state.project, side.teams.get) < Access.CHANGE:
                out.append(f"projects/{name}: {pusher.username} may not change this project")
                break
    for path in sorted(p for p in paths if p.startswith(f"{layout.TEAMS}/")):
        team = path.removeprefix(f"{layout.TEAMS}/").removesuffix(".toml")
        before = old.teams.get(team)
        after = new.teams.get(team)
        allowed = (
            may_manage_team(pusher, before)
            if before
            else bool(after and pusher.username in after.owners)
        )
        if not allowed:
            out.append(f"{path}: {pusher.username} may not change team {team!r}")
    for path in sorted(p for p in paths if "/" not in p):
        out.append(f"{path}: only admins change the repository's top-level files")
    return out


def _review_policy(paths: set[str], old: Snapshot, ref: str) -> list[str]:
    out = []
    for path in sorted(paths):
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != layout.PROJECTS or parts[2] != "deployment.toml":
            continue
        state = old.projects.get(parts[1])
        if state and state.project and state.project.settings.review == "required":
            out.append(
                f"{path}: project {parts[1]!r} requires a review for every deployment; push "
                f"to review/{parts[1]}/<deployment id> instead of {ref} and ask a teammate "
                "to 'rise review approve' it"
            )
    return out


_DIRS = (f"{layout.PROJECTS}/", f"{layout.SERVICE_ACCOUNTS}/")


def main() -> None:
    repo = StateRepo(os.getcwd(), branch=os.environ.get("RISE_STATE_BRANCH", "main"))
    pusher = Principal(
        os.environ.get("RISE_PUSHER", "unknown"), os.environ.get("RISE_PUSHER_ADMIN") == "1"
    )
    updates = [Update(*line.split()) for line in sys.stdin if len(line.split()) == 3]
    # The pushed objects are only in the quarantine until the hook says yes.
    quarantine = os.environ.get("GIT_OBJECT_DIRECTORY")
    with repo.quarantined(quarantine) if quarantine else contextlib.nullcontext():
        refused = check_push(repo, updates, pusher, repo.branch)
    for line in refused:
        print(line, file=sys.stderr)
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
