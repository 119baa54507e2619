"""Reviews of deployments: branches ``review/<project>/<id>`` of the state repository.

A review is a branch that starts at the main branch's head and holds the deployment's commit;
verdicts are empty commits on it whose trailers say who approved or rejected it (and why),
so the audit trail lives in git. Approving merges it onto main with a merge commit whose
second parent is the review's tip (``git log --first-parent`` reads like direct deploys; the
review's commits stay reachable). A rejected review keeps its branch, closed by its verdict.

Trailers (git's ``Key: value`` lines at the end of a message)::

    Approved-by: bob
    Rejected-by: carol
    Reason: the image is the debug build
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pygit2

from reconciler.state import layout
from reconciler.state.edit import Edit
from reconciler.state.repo import Author, ChangeFn, CommitResult, StateError, StateRepo
from reconciler.state.trees import changed_paths

PREFIX = "review/"
APPROVED_BY = "Approved-by"
REJECTED_BY = "Rejected-by"
REASON = "Reason"
REVIEW = "Review"
REQUESTED_BY = "Requested-by"

ReviewState = Literal["open", "stale", "rejected"]


def review_branch(project: str, review_id: str) -> str:
    return f"{PREFIX}{project}/{review_id}"


@dataclass(frozen=True)
class Review:
    """One review as its branch tells it."""

    project: str
    id: str
    branch: str
    head: str
    base: str
    """The main-branch commit the review started from."""
    author: str
    created_at: datetime
    subject: str
    approvals: tuple[str, ...]
    rejected_by: str | None
    reason: str | None
    files: dict[str, bytes | None]
    """What the review changes: path -> content at its tip (None: deleted)."""
    base_files: dict[str, bytes | None]
    """The same paths at ``base``."""
    stale_by: str | None
    """The main commit that changed the project's deployment since ``base``, if any."""

    @property
    def state(self) -> ReviewState:
        if self.rejected_by is not None:
            return "rejected"
        return "stale" if self.stale_by is not None else "open"


def open_review(
    repo: StateRepo, project: str, review_id: str, change: ChangeFn, author: Author
) -> CommitResult:
    """Commit ``change`` on a new review branch that starts at the main branch's head."""
    branch = review_branch(project, review_id)
    if repo.head(branch) is not None:
        raise StateError(f"review branch {branch!r} exists already")
    return repo.commit(change, author, branch=branch, start=repo.head())


def record_verdict(
    repo: StateRepo, review: Review, author: Author, subject: str, trailers: list[tuple[str, str]]
) -> CommitResult:
    """An empty commit on the review's branch carrying ``trailers`` (the recorded verdict)."""

    def verdict(edit: Edit) -> str:
        return f"{subject}\n\n{trailer_block(trailers)}\n"

    return repo.commit(verdict, author, branch=review.branch, allow_empty=True)


def trailer_block(trailers: list[tuple[str, str]]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in trailers)


def list_reviews(repo: StateRepo, project: str | None = None) -> list[Review]:
    """Every review branch (of ``project``), oldest first; unreadable branches are skipped."""
    prefix = f"{PREFIX}{project}/" if project else PREFIX
    out = []
    with repo.handle():
        main = repo.resolve()
        for branch in repo.branches(prefix):
            found = _read(repo, branch, main)
            if found is not None:
                out.append(found)
    return sorted(out, key=lambda r: (r.created_at, r.branch))


def review_tips(repo: StateRepo) -> tuple[tuple[str, str | None], ...]:
    """Every review branch with its tip: it changes whenever a review is opened, gets a
    verdict or is merged, so a summary of the reviews can be cached on it (with main's head)."""
    return tuple((branch, repo.head(branch)) for branch in repo.branches(PREFIX))


def read_review(repo: StateRepo, project: str, review_id: str) -> Review | None:
    branch = review_branch(project, review_id)
    with repo.handle():
        if repo.head(branch) is None:
            return None
        return _read(repo, branch, repo.resolve())


def first_author(repo: StateRepo, head: str, base: str | None) -> str | None:
    """The author of the oldest commit after ``base`` on the way to ``head``: who asked."""
    found = None
    with repo.handle():
        stop = repo.resolve(base).id if base else None
        for commit in _own_commits(repo.resolve(head), stop):
            found = commit.author.name
    return found


def merged_as(repo: StateRepo, project: str, review_id: str, look_back: int = 500) -> str | None:
    """The main commit that merged the review, among the last ``look_back`` commits."""
    wanted = (REVIEW, review_branch(project, review_id))
    with repo.handle():
        for commit in repo.log(limit=look_back):
            if len(commit.parents) == 2 and wanted in parse_trailers(commit.message):
                return str(commit.id)
    return None


def delete_review(repo: StateRepo, review: Review) -> None:
    repo.delete_branch(review.branch)


def parse_trailers(message: str) -> list[tuple[str, str]]:
    """The ``Key: value`` lines of a message's last paragraph."""
    paragraphs = message.strip().split("\n\n")
    if len(paragraphs) < 2:
        return []
    out = []
    for line in paragraphs[-1].split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key and " " not in key:
            out.append((key, value.strip()))
    return out


def _read(repo: StateRepo, branch: str, main: pygit2.Commit) -> Review | None:
    """Call it holding ``repo.handle()``: the commits it walks are that handle's."""
    rest = branch.removeprefix(PREFIX)
    project, _, review_id = rest.partition("/")
    if not project or not review_id or "/" in review_id:
        return None
    git = repo.git
    tip = repo.resolve(f"refs/heads/{branch}")
    base_id = git.merge_base(tip.id, main.id)
    if base_id is None:
        return None
    base = git[base_id]
    commits = list(_own_commits(tip, base_id))  # newest first
    if not commits:
        return None
    first = commits[-1]
    approvals: list[str] = []
    rejected_by = reason = None
    for commit in reversed(commits):
        for key, value in parse_trailers(commit.message):
            if key == APPROVED_BY and value not in approvals:
                approvals.append(value)
            elif key == REJECTED_BY:
                rejected_by = value
            elif key == REASON:
                reason = value
    files = sorted(changed_paths(repo, str(base_id), str(tip.id)))
    deployment = layout.project_file(project, "deployment.toml")
    stale_by = None
    if _blob(git, main.tree, deployment) != _blob(git, base.tree, deployment):
        stale_by = _last_change(repo, deployment, main, base_id)
    return Review(
        project=project,
        id=review_id,
        branch=branch,
        head=str(tip.id),
        base=str(base_id),
        author=first.author.name,
        created_at=datetime.fromtimestamp(first.author.time, UTC),
        subject=first.message.strip().splitlines()[0],
        approvals=tuple(approvals),
        rejected_by=rejected_by,
        reason=reason,
        files={path: _blob(git, tip.tree, path) for path in files},
        base_files={path: _blob(git, base.tree, path) for path in files},
        stale_by=stale_by,
    )


def _own_commits(tip: pygit2.Commit, base: pygit2.Oid | None) -> Iterator[pygit2.Commit]:
    commit: pygit2.Commit | None = tip
    while commit is not None and commit.id != base:
        yield commit
        commit = commit.parents[0] if commit.parents else None


def _blob(git: pygit2.Repository, tree: pygit2.Tree, path: str) -> bytes | None:
    try:
        entry = tree[path]
    except KeyError:
        return None
    if entry.type != pygit2.GIT_OBJECT_BLOB:
        return None
    blob = git[entry.id]
    assert isinstance(blob, pygit2.Blob)
    return blob.data


def _last_change(repo: StateRepo, path: str, main: pygit2.Commit, base: pygit2.Oid) -> str:
    """The newest main commit after ``base`` that changed ``path``."""
    for entry in repo.history(path, str(main.id), limit=1):
        return entry.commit
    return str(base)
