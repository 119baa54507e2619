"""``rise state``: create and lint state repositories (what a team runs in CI on its repo)."""

from __future__ import annotations

from pathlib import Path

import click

from cli._group import AliasedGroup


@click.group(cls=AliasedGroup)
def state() -> None:
    """Create and validate state repositories."""


@state.command("init")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--branch", default="main", show_default=True, help="The main branch's name.")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Seed the first commit from the files of this folder (validated first).",
)
def init(path: Path, branch: str, source: Path | None) -> None:
    """Create a bare state repository at PATH."""
    from reconciler.state import StateError, StateRepo
    from reconciler.state.seed import SeedError, read_seed

    try:
        files = read_seed(source) if source else None
        repo = StateRepo.init(path, branch=branch, files=files)
    except SeedError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"{source} is not a valid state tree; nothing was created. Fix the files above."
        ) from None
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
    seeded = f" with {len(files)} files from {source}" if files else ""
    click.echo(f"Created state repository {path} (branch {branch}){seeded} at {repo.head()[:12]}.")


@state.command("validate")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ref", default=None, help="Branch, tag or commit to check (default: HEAD).")
def validate(path: Path, ref: str | None) -> None:
    """Validate every file of the state repository (bare repo or clone) at PATH.

    Prints each problem as `path: message`; exits 0 when valid and 1 when not.
    """
    from reconciler.state import StateError, StateRepo
    from reconciler.state.check import validation_lines

    try:
        snapshot = StateRepo(path).snapshot(ref)
    except StateError as exc:
        raise click.ClickException(f"{path}: not a readable state repository: {exc}") from None
    problems, summary = validation_lines(snapshot)
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(summary, err=True)
        raise SystemExit(1)
    click.echo(summary)
