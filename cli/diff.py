"""``rise diff``: what would change in the cluster.

Two modes:

- ``rise diff PROJECT`` asks the rise server for the dry run of deploying the app folder here
  (or ``--image``): the same request as ``rise d c --dry-run``, answered with the rendered,
  secrets-masked diff against what is deployed now. Nothing is built, pushed or committed.
- ``rise diff --state REPO --from A --to B`` compares two commits of a state repository
  locally. No cluster is needed: both sides are rendered from git. Only the projects whose
  folders differ between the commits are read and rendered, so the cost follows the change,
  not the size of the repository.

Exit status: 0 no change, 1 changes, 2 error (server errors use the CLI's exit code table).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from cli.appconfig import config_options
from cli.render import (
    config_option,
    echo_problems,
    load_secrets,
    load_settings,
    open_state,
    secrets_key_option,
)

if TYPE_CHECKING:
    from reconciler.compare import ProjectDiff
    from reconciler.state import StateRepo

EXIT_CHANGES = 1
EXIT_ERROR = 2


@click.command()
@click.argument("projects", nargs=-1)
@click.option(
    "--state",
    "state_path",
    envvar="RISE_STATE",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Compare two commits of this state repository (bare repo or clone). [env: RISE_STATE]",
)
@click.option("--from", "from_ref", help="With --state: the commit (or branch, tag) before.")
@click.option("--to", "to_ref", help="With --state: the commit (or branch, tag) after.")
@click.option("--image", help="Server mode: diff deploying this image (a tag is resolved).")
@config_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="kubectl-diff-like text, or JSON for machines.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the diff (default: when stdout is a terminal and NO_COLOR is unset).",
)
@secrets_key_option
@config_option
def diff(
    projects: tuple[str, ...],
    state_path: Path | None,
    from_ref: str | None,
    to_ref: str | None,
    image: str | None,
    environment: str | None,
    env_pairs: tuple[str, ...],
    output: str,
    color: bool | None,
    secrets_key: Path | None,
    config_path: Path | None,
) -> None:
    """Show what would change in the cluster, per object.

    rise diff PROJECT: what deploying the app folder here (or --image) would change, as the
    server renders it against what is deployed now. Nothing is built, pushed or committed.

    rise diff --state REPO --from A --to B [PROJECTS]: what changes between two commits of a
    state repository, rendered locally (no server, no cluster).

    Secret values are always masked; with --secrets-key a changed value shows as
    '******** (before)' / '******** (after)'.
    Exits 0 when nothing changes, 1 when something does, 2 on an error.
    """
    from reconciler.state import StateError

    if state_path is None and from_ref is None and to_ref is None:
        sys.exit(_server_diff(projects, image, environment, env_pairs, output, color))
    if state_path is None or from_ref is None or to_ref is None:
        raise click.UsageError(
            "comparing commits needs --state, --from and --to; "
            "for the diff of deploying this folder give only PROJECT"
        )
    repo = open_state(state_path)
    settings = load_settings(config_path)
    secrets = load_secrets(secrets_key)
    try:
        old, new = str(repo.resolve(from_ref).id), str(repo.resolve(to_ref).id)
        names = _selected(repo, old, new, projects)
    except StateError as exc:
        _fail(str(exc))
    from reconciler.compare import diff_commits

    results = diff_commits(repo, old, new, names, settings, secrets)
    if output == "json":
        click.echo(json.dumps(_as_json(old, new, results), indent=2, ensure_ascii=False))
    else:
        if color is None:
            color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        _print_text(old, new, results, color)
    if any(r.problems for r in results):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CHANGES if any(r.changed for r in results) else 0)


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _selected(repo: StateRepo, old: str, new: str, projects: tuple[str, ...]) -> list[str]:
    """The changed projects, limited to ``projects`` (which must exist on one side)."""
    from schemas.errors import did_you_mean

    changed = repo.changed_projects(old, new)
    if not projects:
        return sorted(changed)
    known = repo.changed_projects(None, old) | repo.changed_projects(None, new)
    for name in projects:
        if name not in known:
            _fail(f"no project {name!r} in either commit{did_you_mean(name, known)}")
    return sorted(changed & set(projects))


def _print_text(old: str, new: str, results: list[ProjectDiff], color: bool) -> None:
    from reconciler.compare import format_report

    for result in results:
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        if result.problems:
            click.echo(f"Project {result.name} cannot be rendered at {new[:12]}:", err=True)
            echo_problems(result.problems)
        elif result.changed:
            click.echo(format_report([result], color), nl=False, color=color)
    changed = sum(r.changed for r in results)
    failed = sum(bool(r.problems) for r in results)
    click.echo(
        f"{old[:12]}..{new[:12]}: {len(results)} project(s) changed in git, "
        f"{changed} with object changes" + (f", {failed} with errors." if failed else "."),
        err=True,
    )


def _as_json(old: str, new: str, results: list[ProjectDiff]) -> dict[str, Any]:
    projects = {result.name: result.to_json() for result in results}
    return {
        "from": old,
        "to": new,
        "changed": any(r.changed for r in results),
        "projects": projects,
    }


# -- server mode: the deploy's dry run -------------------------------------------------------


def _server_diff(
    projects: tuple[str, ...],
    image: str | None,
    environment: str | None,
    env_pairs: tuple[str, ...],
    output: str,
    color: bool | None,
) -> int:
    from cli._named import suggesting
    from cli.deployments import DeployRequest
    from cli.session import session_client

    if len(projects) > 1:
        raise click.UsageError("the diff of a deploy takes one PROJECT")
    project = projects[0] if projects else None
    request = DeployRequest(project, image, environment, env_pairs=env_pairs)
    name = request.project_name()
    client = session_client()
    with suggesting(client, name):
        body = request.body(client, build=False)
        answer = client.request(
            "POST", f"/projects/{name}/deployments", json=body, params={"dry_run": 1}
        )
    return print_dry_run(answer, "json" if output == "json" else "text", color)


def print_dry_run(answer: dict[str, Any], output: str, color: bool | None = None) -> int:
    """Print a deploy's dry run (the server's ``DeploymentDryRun``) as ``rise diff`` prints a
    diff; the exit status: 0 when nothing would change, 1 when something would."""
    from reconciler.diff import ObjectDiff, format_diff

    if output in ("json", "yaml"):
        from cli.output import emit

        emit(answer, output, str)
    else:
        if color is None:
            color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        for warning in answer.get("warnings") or []:
            click.echo(f"Warning: {warning}", err=True)
        diffs = [ObjectDiff(**obj) for obj in answer["objects"]]
        click.echo(f"Project {answer['project']}:")
        click.echo(format_diff(diffs, color), nl=False, color=color)
        base = (answer.get("base") or "")[:12] or "nothing"
        against = (
            " (compared with the live objects)" if answer.get("compared_with") == "live" else ""
        )
        click.echo(
            f"deploying {answer['image']} onto {base}{against}: dry run, nothing changed.",
            err=True,
        )
    return EXIT_CHANGES if answer["changed"] else 0
