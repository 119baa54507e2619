"""What a killed writer leaves in a git directory, and whether a commit can succeed now.

git and libgit2 hold a lock file (``refs/heads/main.lock``) for milliseconds while they
update a ref, and write objects through temporary files. A process killed in between leaves
them behind; a stale branch lock then refuses every commit. These functions find them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LOCK_STALE_SECONDS = 5.0
"""A lock older than this outlived its writer: one this old was left by a killed process."""
# Files a killed git or libgit2 writer leaves behind, relative to the git directory.
_LEFTOVERS = ("*.lock", "refs/**/*.lock", "objects/**/tmp_*", "objects/**/*_git2_*")


def clear_leftovers(git_dir: Path, stale_after: float = LOCK_STALE_SECONDS) -> list[str]:
    """Remove lock and temporary files older than ``stale_after``; the paths removed.

    A younger lock may belong to a live ``git push`` into the same repository: it stays.
    """
    removed = []
    for pattern in _LEFTOVERS:
        for path in git_dir.glob(pattern):
            if age(path) >= stale_after and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(str(path.relative_to(git_dir)))
    return sorted(removed)


def write_problem(git_dir: Path, ref: str) -> str | None:
    """Why a commit to ``ref`` cannot succeed now (a stale lock, an unwritable folder)."""
    lock = git_dir / f"{ref}.lock"
    held = age(lock)
    if held >= LOCK_STALE_SECONDS:
        return (
            f"{lock} has been held for {held:.0f} s by no running writer (a crashed git "
            "process left it); remove it, or restart the server, which clears it"
        )
    for folder in (git_dir / "objects", git_dir / "refs" / "heads"):
        if not os.access(folder, os.W_OK):
            return f"{folder} is not writable by the server's user (uid {os.getuid()})"
    return None


def age(path: Path) -> float:
    """Seconds since ``path`` last changed; -1 when it does not exist."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return -1.0
