"""How two commits of a state repository relate: which files differ, where they meet."""

from __future__ import annotations

from collections.abc import Iterator

import pygit2

from reconciler.state.repo import StateRepo


def changed_paths(repo: StateRepo, old: str | None, new: str) -> set[str]:
    """Files that differ between two commits (``old`` None: every file of ``new``)."""
    with repo.handle():
        new_tree = repo.resolve(new).tree
        if old is None:
            return set(_all_paths(new_tree))
        diff = repo.resolve(old).tree.diff_to_tree(new_tree)
        return {path for d in diff.deltas for path in (d.old_file.path, d.new_file.path)}


def merge_base(repo: StateRepo, a: str, b: str) -> str | None:
    """The newest commit both ``a`` and ``b`` descend from."""
    with repo.handle() as git:
        found = git.merge_base(repo.resolve(a).id, repo.resolve(b).id)
        return str(found) if found is not None else None


def has_commit(repo: StateRepo, commit: str) -> bool:
    with repo.handle() as git:
        try:
            return isinstance(git.get(commit), pygit2.Commit)
        except (ValueError, pygit2.GitError):
            return False


def _all_paths(tree: pygit2.Tree, prefix: str = "") -> Iterator[str]:
    for entry in tree:
        if isinstance(entry, pygit2.Tree):
            yield from _all_paths(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}"
