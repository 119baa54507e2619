"""Read a folder of state files (``examples/state/``) to seed a new state repository."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.state.edit import Edit
from reconciler.state.snapshot import read_snapshot
from schemas import Problem

_IGNORED = {".git", ".DS_Store"}


class SeedError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def read_seed(folder: Path) -> dict[str, bytes]:
    """All files under ``folder`` by repo path, after validating them as one snapshot."""
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not _IGNORED.intersection(p.relative_to(folder).parts)
    }
    _validate(files)
    return files


def _validate(files: dict[str, bytes]) -> None:
    """Build the tree in a throwaway in-memory object store and validate it like a commit."""
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
        if problems:
            raise SeedError(problems)
        sig = pygit2.Signature("rise", "rise@localhost")
        commit = repo[repo.create_commit(None, sig, sig, "seed", edit.build(), [])]
        problems = read_snapshot(repo, commit).all_problems
    if problems:
        raise SeedError(problems)
