"""The git state repository (SPEC §3): the only source of truth for desired state."""

from reconciler.state.edit import Edit
from reconciler.state.repo import (
    Author,
    CommitConflict,
    CommitResult,
    HistoryEntry,
    Remote,
    StateError,
    StateRepo,
)
from reconciler.state.snapshot import ProjectState, Snapshot

__all__ = [
    "Author",
    "CommitConflict",
    "CommitResult",
    "Edit",
    "HistoryEntry",
    "ProjectState",
    "Remote",
    "Snapshot",
    "StateError",
    "StateRepo",
]
