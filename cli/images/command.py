"""``rise build``: build an app's container image without deploying it (and maybe push it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from cli.images.backends import Backend, BuildError, BuiltImage, get_backend
from cli.images.detect import BACKEND_CHOICES, BuildOptions, plan_build
from cli.images.push import (
    PUSH,
    CredentialsSource,
    client_credentials,
    push_image,
    session_expiry_warning,
)
from cli.images.reference import parse_reference
from cli.session import current_session, session_client
from schemas.names import name_problem


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.command()
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-t", "--tag", help="Image name[:tag] to build. Default: <project>:latest.")
@click.option(
    "--backend",
    metavar="NAME",
    help=f"How to build: {', '.join(BACKEND_CHOICES)}. Default: RISE_BUILD_BACKEND, "
    "then [build] backend in .rise.toml, then auto.",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="A build argument (repeatable); overrides [build] args.",
)
@click.option("--platform", help="Target platform such as linux/arm64.")
@click.option("--no-cache", is_flag=True, help="Build every layer again.")
@click.option(
    "--push",
    is_flag=True,
    help="Push to the project's registry (as 'rise login' or RISE_URL/RISE_TOKEN) and "
    "print the image pinned by digest.",
)
@click.option("--project", help="Project to push to. Default: project in .rise.toml.")
def build(
    path: Path,
    tag: str | None,
    backend: str | None,
    build_args: tuple[str, ...],
    platform: str | None,
    no_cache: bool,
    push: bool,
    project: str | None,
) -> None:
    """Build the app in PATH (default: here) into a container image.

    Prints the image built; with --push, the pushed image as registry/repo@sha256:<digest>.
    """
    environ = os.environ
    try:
        plan = plan_build(path, BuildOptions(backend, tag, build_args, platform, no_cache), environ)
        # Settle where to push, and that the caller may, before a long build, not after it.
        target = _push_target(project or plan.project, path) if push else None
        engine = get_backend(plan.backend, environ)
        _progress(
            f"Building container image '{plan.spec.tag}' using {plan.backend} ({plan.reason})..."
        )
        image = engine.build(plan.spec, _progress)
        click.echo(_push(engine, image, target) if target else image.tag)
    except BuildError as exc:
        # The tool's output was streamed above: its last lines are not printed again.
        raise click.ClickException(exc.summary()) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@dataclass(frozen=True)
class _PushTarget:
    project: str
    credentials: CredentialsSource


def _push_target(project: str | None, path: Path) -> _PushTarget:
    """The project to push to, with credentials from the command's rise session (profile,
    stored token with silent refresh, or RISE_URL/RISE_TOKEN), asked for once now."""
    if not project:
        raise BuildError(
            f'--push needs a project: add project = "<name>" to {path / ".rise.toml"} '
            "or pass --project"
        )
    problem = name_problem(project, "project name")
    if problem:
        raise BuildError(problem)
    connection = current_session().connection()
    if connection.token_from_env and connection.token:
        # A token from the environment is never refreshed: say so before a long build fails.
        warning = session_expiry_warning(connection.token)
        if warning:
            click.secho(f"Warning: {warning}", fg="yellow", err=True)
    credentials = client_credentials(session_client())
    credentials(project, PUSH)
    return _PushTarget(project, credentials)


def _push(engine: Backend, image: BuiltImage, target: _PushTarget) -> str:
    """Push with credentials fetched now; the image pinned by digest."""
    pushed = push_image(
        engine,
        image,
        target.project,
        target.credentials,
        tag=parse_reference(image.tag).tag or "latest",
        log=_progress,
    )
    _progress(f"Pushed {pushed.reference.name}:{pushed.tag}")
    return pushed.pinned
