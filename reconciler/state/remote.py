"""The state repository's remote: fetch, and pushes that are a compare-and-swap.

In remote mode a commit lands only when the push moving the branch is accepted: over smart
HTTP/SSH receive-pack checks the ref's old value under its lock and rejects a non-fast-forward,
which is a lost race (fetch, re-apply, retry), not an error. libgit2's local transport (a
path or ``file://``) overwrites refs without that check, so for it the objects go to a
scratch ref and the branch is moved with a matching update done here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pygit2


class StateError(RuntimeError):
    """A state repository operation failed in a way the caller should report."""


@dataclass(frozen=True)
class Remote:
    url: str
    username: str | None = None
    password: str | None = None


def clone_bare(remote: Remote, path: Path) -> None:
    try:
        pygit2.clone_repository(remote.url, str(path), bare=True, callbacks=_Auth(remote))
    except pygit2.GitError as exc:
        raise _remote_error("clone", remote, exc) from None


def fetch(git: pygit2.Repository, remote: Remote, refspec: str) -> None:
    try:
        _origin(git, remote).fetch([refspec], callbacks=_Auth(remote))
    except pygit2.GitError as exc:
        raise _remote_error("fetch from", remote, exc) from None


def push_commit(
    git: pygit2.Repository, remote: Remote, ref: str, new: pygit2.Oid, *, main: bool
) -> bool:
    """Move ``ref`` on the remote to ``new`` if nobody moved it since ``new``'s parent (for
    ``main``, a branch that is missing there is not created from a commit with a parent).
    False: a lost race. On success the local ref follows."""
    temp = f"refs/rise/push/{uuid.uuid4().hex}"
    git.references.create(temp, new)
    try:
        path = _local_path(remote)
        if path is not None:
            pushed = _push_to_local_path(git, remote, path, temp, ref, new, main)
        else:
            pushed = push_refspec(git, remote, f"{temp}:{ref}")
    finally:
        git.references.delete(temp)
    if pushed:
        git.references.create(ref, new, force=True)
    return pushed


def push_refspec(git: pygit2.Repository, remote: Remote, refspec: str) -> bool:
    """Push one refspec; False when the remote rejected it as a lost race."""
    rejected: list[str] = []

    class _Callbacks(_Auth):
        def push_update_reference(self, refname: str, message: str | None) -> None:
            if message:
                rejected.append(f"{refname}: {message}")

    try:
        _origin(git, remote).push([refspec], callbacks=_Callbacks(remote))
    except pygit2.GitError as exc:
        text = str(exc).lower()
        lost_race = ("non-fast-forward", "fast forward", "rejected", "not present locally")
        if any(words in text for words in lost_race):
            return False
        if "refs/rise/push/" in text and "not found" in text:
            # libgit2's local transport can miss the scratch ref it just wrote while
            # another writer updates refs in the same repository: a lost race too.
            return False
        raise _remote_error("push to", remote, exc) from None
    return not rejected


def _push_to_local_path(
    git: pygit2.Repository,
    remote: Remote,
    path: str,
    temp: str,
    ref: str,
    new: pygit2.Oid,
    main: bool,
) -> bool:
    if not push_refspec(git, remote, f"+{temp}:{temp}"):
        return False
    other = pygit2.Repository(path)
    try:
        current = other.references.get(ref)
        commit = other[new].peel(pygit2.Commit)
        expected = commit.parents[0].id if commit.parents else None
        try:
            if current is None:
                if expected is not None and main:
                    return False
                other.references.create(ref, new, force=False)
                return True
            if current.target != expected:
                return False
            current.set_target(new, f"rise: push {new}")
            return True
        except (pygit2.GitError, pygit2.AlreadyExistsError, OSError, ValueError):
            return False
    finally:
        scratch = other.references.get(temp)
        if scratch is not None:
            scratch.delete()


def _local_path(remote: Remote) -> str | None:
    url = remote.url
    if url.startswith("file://"):
        return url.removeprefix("file://")
    return None if "://" in url or url.startswith("git@") else url


def _origin(git: pygit2.Repository, remote: Remote) -> pygit2.Remote:
    if "origin" not in [r.name for r in git.remotes]:
        return git.remotes.create("origin", remote.url)
    return git.remotes["origin"]


def _remote_error(action: str, remote: Remote, exc: Exception) -> StateError:
    text = str(exc)
    hint = "check the URL and that the network path to it is open"
    if "authentication" in text.lower() or "401" in text or "403" in text:
        hint = "check the username and password (or token) configured for it"
    return StateError(f"could not {action} the state repository {remote.url}: {text}; {hint}")


class _Auth(pygit2.RemoteCallbacks):
    def __init__(self, remote: Remote):
        credentials = None
        if remote.username is not None:
            credentials = pygit2.UserPass(remote.username, remote.password or "")
        super().__init__(credentials=credentials)
