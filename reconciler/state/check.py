"""``rise state validate``'s verdict on a snapshot, in words (also what a refused push says)."""

from __future__ import annotations

from reconciler.state.snapshot import Snapshot
from schemas import Problem
from schemas.checks import owner_problems


def owner_problems_of(snapshot: Snapshot) -> list[Problem]:
    """Projects whose owner names a team the snapshot does not have."""
    owners = {name: p.project.owner for name, p in snapshot.projects.items() if p.project}
    return owner_problems(owners, snapshot.teams)


def validation_lines(snapshot: Snapshot) -> tuple[list[str], str]:
    """One ``path: message`` line per problem, and the summary line that follows them."""
    problems = [*snapshot.all_problems, *owner_problems_of(snapshot)]
    summary = (
        f"{len(snapshot.projects)} projects, {len(snapshot.teams)} teams at "
        f"{snapshot.commit[:12]}: "
    )
    summary += f"{len(problems)} problem(s)." if problems else "valid."
    return [str(p) for p in problems], summary
