"""``rise state validate``'s verdict on a snapshot, in words (also what a refused push says)."""

from __future__ import annotations

from reconciler.state.snapshot import Snapshot


def validation_lines(snapshot: Snapshot) -> tuple[list[str], str]:
    """One ``path: message`` line per problem, and the summary line that follows them."""
    problems = snapshot.all_problems
    summary = (
        f"{len(snapshot.projects)} projects, {len(snapshot.teams)} teams at "
        f"{snapshot.commit[:12]}: "
    )
    summary += f"{len(problems)} problem(s)." if problems else "valid."
    return [str(p) for p in problems], summary
