"""The git state repository: snapshots, compare-and-swap commits, history, branches.

This module and its siblings are the only code in rise that touches pygit2; the remote
(fetch, and pushes that are a compare-and-swap) is ``remote.py``.

Writes are optimistic: a transaction reads the branch head, applies its change function to that
tree, writes a commit and moves the branch with compare-and-swap (libgit2's matching reference
update, which also guards against ``git push`` into the same repo). A writer that loses the
race runs its change function again on the new head. History stays linear and no commit is
lost. In remote mode the push itself is the compare-and-swap: a non-fast-forward rejection
means fetch, re-apply, retry.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pygit2

from reconciler.state import layout, recovery
from reconciler.state import remote as remotes
from reconciler.state.edit import Edit
from reconciler.state.handles import HandlePool
from reconciler.state.remote import Remote, StateError
from reconciler.state.snapshot import (
    ParseCache,
    ProjectState,
    Snapshot,
    read_project,
    read_snapshot,
)

COMMITTER = ("rise", "rise@localhost")

# libgit2 caches parsed trees only up to 4 KiB by default; the projects/ tree of a
# 10,000-project repo is ~350 KiB and would be re-parsed on every path lookup.
pygit2.settings.cache_object_limit(pygit2.GIT_OBJECT_TREE, 1 << 22)
_PARSE_CACHE_LIMIT = 200_000
_LISTINGS_KEPT = 4

ChangeFn = Callable[[Edit], str | None]
"""Stages changes on an Edit and returns the commit message, or None to commit nothing."""
F = TypeVar("F", bound=Callable[..., Any])


def _leased(method: F) -> F:
    """Run a method while this thread holds a pooled handle (``StateRepo._lease``)."""

    @functools.wraps(method)
    def run(self: StateRepo, *args: Any, **kwargs: Any) -> Any:
        with self._lease():
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class CommitConflict(StateError):
    """Gave up after too many lost races; the repository is unchanged by this writer."""


@dataclass(frozen=True)
class Author:
    """The acting user a commit is authored as."""

    name: str
    email: str | None = None

    def signature(self, when: datetime | None = None) -> pygit2.Signature:
        return _signature(self.name, self.email or f"{self.name}@users.rise.local", when)


@dataclass(frozen=True)
class CommitResult:
    commit: str | None
    """The new commit id, or None when the change function staged nothing."""
    attempts: int


@dataclass(frozen=True)
class HistoryEntry:
    commit: str
    author: str
    time: datetime
    message: str
    committer: str
    data: bytes | None
    """The file's content at that commit (None when the commit deleted it)."""


class StateRepo:
    """One state repository. Safe to share between threads: every public method leases a
    pooled git handle (``handles.HandlePool``) for its duration."""

    def __init__(self, path: str | Path, branch: str | None = None, remote: Remote | None = None):
        """Open the repo at ``path`` (bare or a clone); ``branch`` defaults to what HEAD names."""
        self.path = str(path)
        try:
            handle = pygit2.Repository(self.path)
        except pygit2.GitError as exc:
            raise StateError(f"{self.path} is not a git repository: {exc}") from None
        self.branch = branch or _head_branch(handle)
        self.remote = remote
        self._pool = HandlePool(self.path, handle)
        self._parse_cache: ParseCache = {}
        self._listings: dict[pygit2.Oid, dict[str, pygit2.Oid]] = {}
        self._listings_lock = threading.Lock()
        self._write_lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        branch: str = "main",
        files: dict[str, bytes] | None = None,
        author: Author | None = None,
    ) -> StateRepo:
        """Create a bare state repo whose first commit holds the format file (and ``files``)."""
        target = Path(path)
        if target.exists() and any(target.iterdir()):
            raise StateError(f"{target} already exists and is not empty; choose a new path")
        pygit2.init_repository(str(target), bare=True, initial_head=branch)
        repo = cls(target, branch)
        seed = {layout.FORMAT_FILE: layout.format_file_text().encode(), **(files or {})}

        def _seed(edit: Edit) -> str:
            for file, data in seed.items():
                edit.write(file, data)
            return "initialise rise state repository"

        repo.commit(_seed, author or Author(*COMMITTER))
        return repo

    @classmethod
    def clone(cls, remote: Remote, path: str | Path, branch: str = "main") -> StateRepo:
        """Clone (or reuse a clone of) a remote state repo; writes push back with CAS."""
        target = Path(path)
        if not (target / "HEAD").exists():
            remotes.clone_bare(remote, target)
        repo = cls(target, branch, remote)
        repo.fetch()
        return repo

    @property
    def git(self) -> pygit2.Repository:
        """The handle this thread leased; outside a lease (tools, tests) a fresh one."""
        return self._pool.current() or pygit2.Repository(self.path)

    @property
    def handles_open(self) -> int:
        """How many git handles this instance holds (never more than ``MAX_HANDLES``)."""
        return self._pool.opened

    def _lease(self) -> contextlib.AbstractContextManager[pygit2.Repository]:
        return self._pool.lease()

    # -- reading -------------------------------------------------------------------------

    @_leased
    def head(self, branch: str | None = None) -> str | None:
        ref = self.git.references.get(self._ref(branch))
        return str(ref.target) if ref is not None else None

    @_leased
    def resolve(self, ref: str | None = None) -> pygit2.Commit:
        """A commit by branch name, full ref, tag or (short) id; StateError says what failed."""
        repo = self.git
        spec = ref or self._ref(None)
        try:
            obj = repo.revparse_single(spec)
        except (KeyError, ValueError, pygit2.GitError):
            obj = None
            if ref and not ref.startswith("refs/"):
                try:
                    obj = repo.revparse_single(self._ref(ref))
                except (KeyError, ValueError, pygit2.GitError):
                    obj = None
        if obj is None:
            raise StateError(
                f"no commit {spec!r} in the state repository at {self.path}; "
                f"branches: {', '.join(self.branches()) or 'none'}"
            )
        commit = obj.peel(pygit2.Commit)
        return commit

    @_leased
    def snapshot(self, ref: str | None = None) -> Snapshot:
        if len(self._parse_cache) > _PARSE_CACHE_LIMIT:
            self._parse_cache.clear()
        return read_snapshot(self.git, self.resolve(ref), self._parse_cache)

    @_leased
    def project(self, name: str, ref: str | None = None) -> ProjectState | None:
        """One project at ``ref`` (validated like a snapshot), or None when there is none."""
        return read_project(self.git, self.resolve(ref), name, self._parse_cache)

    @_leased
    def read(self, path: str, ref: str | None = None) -> bytes | None:
        return Edit(self.git, self.resolve(ref).tree).read(path)

    @_leased
    def changed_projects(self, old: str | None, new: str | None = None) -> set[str]:
        """Projects whose files differ between two commits (``old`` None: all of ``new``).

        A project's folder id changes exactly when something under it changes, so comparing
        the two ``projects/`` listings finds them without descending into any project. Each
        listing is kept for the next call, and the reconciler diffs consecutive heads, so a
        call reads only the newest listing.
        """
        new_tree = self.resolve(new).tree
        if old is None:
            return set(self._listing(_subtree(new_tree, layout.PROJECTS)))
        old_tree = self.resolve(old).tree
        changed: set[str] = set()
        for top in (layout.PROJECTS, layout.SERVICE_ACCOUNTS):
            a, b = _subtree(old_tree, top), _subtree(new_tree, top)
            if a != b:
                before, after = self._listing(a), self._listing(b)
                changed.update(name for name, _ in before.items() ^ after.items())
        return changed

    def _listing(self, tree_id: pygit2.Oid | None) -> dict[str, pygit2.Oid]:
        if tree_id is None:
            return {}
        with self._listings_lock:
            hit = self._listings.pop(tree_id, None)
            if hit is None:
                hit = {entry.name: entry.id for entry in self.git[tree_id]}
            self._listings[tree_id] = hit  # most recently used last
            while len(self._listings) > _LISTINGS_KEPT:
                del self._listings[next(iter(self._listings))]
        return hit

    @contextlib.contextmanager
    def quarantined(self, objects: str) -> Iterator[None]:
        """Hold one handle that also reads objects from ``objects`` (a push's quarantine,
        before the push is accepted) for the calls this thread makes inside the block."""
        with self._lease() as git:
            git.odb.add_disk_alternate(objects)
            yield

    def handle(self) -> contextlib.AbstractContextManager[pygit2.Repository]:
        """One handle held for a run of reads, so the objects they return stay this
        thread's (state modules that walk commits and trees use it)."""
        return self._lease()

    @_leased
    def history(
        self,
        path: str,
        ref: str | None = None,
        limit: int | None = None,
        *,
        within: str | None = None,
    ) -> list[HistoryEntry]:
        """Commits that changed ``path``, newest first (``git log -- path``, first parents).

        ``within`` bounds the walk to one lifetime of that path: it stops at the first commit
        (going back) that does not hold it. A project's history is read within its
        ``project.toml``, so a new project never inherits a deleted namesake's deployments.
        """
        entries: list[HistoryEntry] = []
        commit: pygit2.Commit | None = self.resolve(ref)
        while commit is not None and (limit is None or len(entries) < limit):
            if within is not None and _blob_id(commit.tree, within) is None:
                break
            parent = commit.parents[0] if commit.parents else None
            here = _blob_id(commit.tree, path)
            before = _blob_id(parent.tree, path) if parent is not None else None
            if here != before:
                entries.append(
                    HistoryEntry(
                        commit=str(commit.id),
                        author=commit.author.name,
                        time=datetime.fromtimestamp(commit.author.time, UTC),
                        message=commit.message.strip(),
                        committer=commit.committer.name,
                        data=self.git[here].data if here is not None else None,
                    )
                )
            commit = parent
        return entries

    def log(self, ref: str | None = None, limit: int | None = None) -> Iterator[pygit2.Commit]:
        """Commits on a branch, newest first, following first parents (read under one lease,
        so the walk never shares a handle with another thread)."""
        with self._lease():
            commit: pygit2.Commit | None = self.resolve(ref)
            found: list[pygit2.Commit] = []
            while commit is not None and (limit is None or len(found) < limit):
                found.append(commit)
                commit = commit.parents[0] if commit.parents else None
        return iter(found)

    # -- crash recovery ------------------------------------------------------------------

    @_leased
    def clear_crash_leftovers(self) -> list[str]:
        """Remove the lock and temporary files a killed writer left; the paths removed."""
        return recovery.clear_leftovers(Path(self.git.path))

    @_leased
    def write_problem(self) -> str | None:
        """Why a commit cannot succeed now, or None (``recovery.write_problem``)."""
        return recovery.write_problem(Path(self.git.path), self._ref(None))

    # -- branches ------------------------------------------------------------------------

    @_leased
    def branches(self, prefix: str = "") -> list[str]:
        names = self.git.raw_listall_references()
        out = []
        for raw in names:
            name = raw.decode()
            if name.startswith("refs/heads/" + prefix):
                out.append(name.removeprefix("refs/heads/"))
        return sorted(out)

    @_leased
    def delete_branch(self, branch: str) -> None:
        if branch == self.branch:
            raise StateError(f"refusing to delete the main branch {branch!r}")
        ref = self.git.references.get(self._ref(branch))
        if ref is not None:
            ref.delete()
            if self.remote is not None:
                remotes.push_refspec(self.git, self.remote, f":{self._ref(branch)}")

    # -- writing -------------------------------------------------------------------------

    def commit(
        self,
        change: ChangeFn,
        author: Author,
        *,
        branch: str | None = None,
        start: str | None = None,
        merge: str | None = None,
        allow_empty: bool = False,
        max_attempts: int = 100,
    ) -> CommitResult:
        """Apply ``change`` to the head of ``branch`` and commit it, retrying lost races.

        ``start`` is where a branch that does not exist yet starts (default: the main branch).
        ``merge`` names a commit recorded as the second parent (a review merged onto the
        branch); ``allow_empty`` commits even when nothing changed (a recorded verdict).
        Threads sharing this instance take turns (racing each other would only waste
        attempts); other instances and processes are kept honest by the compare-and-swap.
        """
        target = branch or self.branch
        extra = [self.resolve(merge).id] if merge else []
        # The lock before the lease: a writer waiting its turn holds no handle readers need.
        with self._write_lock, self._lease():
            return self._commit(change, author, target, start, extra, allow_empty, max_attempts)

    def _commit(
        self,
        change: ChangeFn,
        author: Author,
        target: str,
        start: str | None,
        extra: list[pygit2.Oid],
        allow_empty: bool,
        max_attempts: int,
    ) -> CommitResult:
        for attempt in range(1, max_attempts + 1):
            if self.remote is not None:
                self.fetch()
            current = self._head_commit(target)
            parent = current or self._start_commit(target, start)
            edit = Edit(self.git, parent.tree if parent is not None else None)
            message = change(edit)
            if message is None or not (edit.changed or allow_empty):
                return CommitResult(None, attempt)
            try:
                tree_id = edit.build() if edit.changed or parent is None else parent.tree_id
                if parent is not None and tree_id == parent.tree_id and not allow_empty:
                    return CommitResult(None, attempt)
                now = datetime.now(UTC)
                commit_id = self.git.create_commit(
                    None,
                    author.signature(now),
                    _signature(*COMMITTER, now),
                    message.rstrip() + "\n",
                    tree_id,
                    ([parent.id] if parent is not None else []) + extra,
                )
            except (pygit2.GitError, OSError) as exc:
                raise StateError(f"cannot write objects to the state repository: {exc}") from None
            if self._advance(target, current, commit_id):
                return CommitResult(str(commit_id), attempt)
            problem = self.write_problem()
            if problem is not None:  # not a lost race: retrying cannot help
                raise StateError(f"cannot commit to {target!r}: {problem}")
            time.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))
        raise CommitConflict(
            f"could not commit to {target!r} after {max_attempts} attempts: other writers kept "
            "moving it; nothing was written, try again"
        )

    @_leased
    def fetch(self) -> None:
        if self.remote is None:
            return
        remotes.fetch(self.git, self.remote, "+refs/heads/*:refs/heads/*")

    @_leased
    def fetch_ref(self, ref: str) -> str | None:
        """Fetch one ref of the remote (a pull request's head, say); its commit, or None."""
        if self.remote is None:
            return None
        local = f"refs/rise/fetched/{ref.removeprefix('refs/')}"
        remotes.fetch(self.git, self.remote, f"+{ref}:{local}")
        found = self.git.references.get(local)
        return str(found.target) if found is not None else None

    @_leased
    def pack_loose_objects(self) -> int:
        """Move loose objects into one pack (what ``git gc`` does); returns how many.

        Every rise commit writes loose objects, one file each; reading 40,000 of them is four
        times slower than reading a pack. Only objects that were loose before packing are
        removed, after the pack is written, so concurrent writers lose nothing.
        """
        objects = Path(self.git.path) / "objects"
        loose = [
            path
            for folder in objects.iterdir()
            if len(folder.name) == 2 and folder.is_dir()
            for path in folder.iterdir()
            if len(path.name) == 38
        ]
        if not loose:
            return 0
        builder = pygit2.PackBuilder(self.git)
        for path in loose:
            builder.add(pygit2.Oid(hex=path.parent.name + path.name))
        builder.write(str(objects / "pack"))
        for path in loose:
            path.unlink(missing_ok=True)
        self._pool.renew()  # handles opened before the pack must rescan
        return len(loose)

    # -- internals -----------------------------------------------------------------------

    def _ref(self, branch: str | None) -> str:
        return f"refs/heads/{branch or self.branch}"

    def _head_commit(self, branch: str) -> pygit2.Commit | None:
        ref = self.git.references.get(self._ref(branch))
        return self.git[ref.target] if ref is not None else None

    def _start_commit(self, branch: str, start: str | None) -> pygit2.Commit | None:
        if branch == self.branch:
            return None
        return self.resolve(start) if start else self._head_commit(self.branch)

    def _advance(self, branch: str, current: pygit2.Commit | None, new: pygit2.Oid) -> bool:
        """Move ``branch`` from ``current`` (None: absent) to ``new`` if nobody moved it."""
        if self.remote is not None:
            main = branch == self.branch
            return remotes.push_commit(self.git, self.remote, self._ref(branch), new, main=main)
        refs = self.git.references
        name = self._ref(branch)
        try:
            if current is None:
                refs.create(name, new, force=False)
                return True
            ref = refs.get(name)
            if ref is None or ref.target != current.id:
                return False
            # set_target is libgit2's create_matching: it fails if the ref moved since lookup.
            ref.set_target(new, f"rise: commit {new}")
            return True
        except (pygit2.GitError, pygit2.AlreadyExistsError, OSError, ValueError):
            # A held ref lock (another writer mid-update) is a lost race too.
            return False


def _head_branch(repo: pygit2.Repository) -> str:
    head = repo.references.get("HEAD")
    target = head.target if head is not None else None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target.removeprefix("refs/heads/")
    return "main"


def _signature(name: str, email: str, when: datetime | None = None) -> pygit2.Signature:
    moment = when or datetime.now(UTC)
    return pygit2.Signature(name, email, int(moment.timestamp()), 0)


def _subtree(tree: pygit2.Tree, name: str) -> pygit2.Oid | None:
    try:
        entry = tree[name]
    except KeyError:
        return None
    return entry.id if entry.type == pygit2.GIT_OBJECT_TREE else None


def _blob_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        entry = tree[path]
    except KeyError:
        return None
    return entry.id if entry.type == pygit2.GIT_OBJECT_BLOB else None
