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
@click.option(
    "--working",
    is_flag=True,
    help="In a clone, check the working files (what you are about to commit) instead.",
)
def validate(path: Path, ref: str | None, working: bool) -> None:
    """Validate every file of the state repository or folder of state files at PATH.

    PATH is a bare repository, a clone (its committed tree, or with --working its files) or
    a plain folder of state files; never a repository PATH merely sits in. Prints every
    problem as `path: message`; exits 0 when valid and 1 when not.
    """
    from reconciler.state import StateError, StateRepo
    from reconciler.state.check import owner_problems_of
    from reconciler.state.seed import check_files, read_files

    kind = _kind(path)
    if kind == "folder" and not any((path / top).is_dir() for top in ("projects", "teams")):
        raise click.ClickException(
            f"{path} is not a git repository and holds no state files (projects/, teams/)"
        )
    if (kind == "folder" or working) and ref is not None:
        raise click.ClickException("--ref names a commit; it cannot be used with working files")
    if kind == "folder" or working:
        snapshot, problems = check_files(read_files(path))
        checked = f"the files in {path}"
    else:
        try:
            snapshot = StateRepo(path).snapshot(ref)
        except StateError as exc:
            raise click.ClickException(f"{path}: not a readable state repository: {exc}") from None
        problems = snapshot.all_problems
        checked = f"the committed tree at {ref or 'HEAD'} ({snapshot.commit[:12]})"
        if kind == "clone":
            checked += ", not the working files (--working checks those)"
    problems = [*problems, *owner_problems_of(snapshot)]
    for problem in problems:
        click.echo(str(problem))
    summary = f"{len(snapshot.projects)} projects, {len(snapshot.teams)} teams in {checked}: "
    if problems:
        click.echo(summary + f"{len(problems)} problem(s).", err=True)
        raise SystemExit(1)
    click.echo(summary + "valid.")


def _kind(path: Path) -> str:
    """``bare``, ``clone`` or ``folder``: what PATH itself is, not what encloses it."""
    if (path / ".git").exists():
        return "clone"
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir():
        return "bare"
    return "folder"
