"""Read a folder of state files (``examples/state/``) to seed a new state repository."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.state.edit import Edit
from reconciler.state.snapshot import Snapshot, read_snapshot
from schemas import Problem

_IGNORED = {".git", ".DS_Store"}


class SeedError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def read_seed(folder: Path) -> dict[str, bytes]:
    """All files under ``folder`` by repo path, after validating them as one snapshot."""
    files = read_files(folder)
    problems = check_files(files)[1]
    if problems:
        raise SeedError(problems)
    return files


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by repo path (``.git`` and editor litter left out)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not _IGNORED.intersection(p.relative_to(folder).parts)
    }


def check_files(files: dict[str, bytes]) -> tuple[Snapshot, list[Problem]]:
    """``files`` validated like a commit of them: the snapshot and every problem at once.

    The tree is built in a throwaway object store; a path no repository may hold is
    reported and left out, so the files beside it are still checked.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        edit = Edit(repo, None)
        problems = []
        for path, data in files.items():
            try:
                edit.write(path, data)
            except ValueError as exc:
                problems.append(Problem(path, str(exc)))
        sig = pygit2.Signature("rise", "rise@localhost")
        commit = repo[repo.create_commit(None, sig, sig, "seed", edit.build(), [])]
        snapshot = read_snapshot(repo, commit)
    return snapshot, problems + snapshot.all_problems
