"""``rise render``: print a project's Kubernetes manifests from the state repository.

Also the helpers ``rise diff`` shares: reading one project at a commit, the render settings
from the server config and the secrets key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from reconciler.render import RenderSettings
    from reconciler.secrets import SecretBox
    from reconciler.state import ProjectState, StateRepo

# Project files and the ProjectState field each fills.

state_option = click.option(
    "--state",
    "state_path",
    required=True,
    envvar="RISE_STATE",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The state repository (bare repo or clone). [env: RISE_STATE]",
)
config_option = click.option(
    "--config",
    "config_path",
    envvar="RISE_CONFIG",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Server config file: namespace format, app URLs, ingress, templates. [env: RISE_CONFIG]",
)
secrets_key_option = click.option(
    "--secrets-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The server's secrets key file (base64, 32 bytes); without it secrets are masked.",
)


@click.command()
@click.argument("project")
@state_option
@click.option("--ref", default=None, help="Branch, tag or commit (default: the main branch).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="YAML documents, or a JSON List.",
)
@secrets_key_option
@config_option
def render(
    project: str,
    state_path: Path,
    ref: str | None,
    output: str,
    secrets_key: Path | None,
    config_path: Path | None,
) -> None:
    """Print the Kubernetes manifests of PROJECT as the reconciler would apply them.

    Every object is validated against the Kubernetes OpenAPI schema first. Secret values
    are masked unless --secrets-key is given.
    """
    from reconciler.render import RenderError, render_project

    repo = open_state(state_path)
    settings = load_settings(config_path)
    secrets = load_secrets(secrets_key)
    state = project_at(repo, project, ref)
    if state is None:
        raise click.ClickException(missing_project(repo, project, ref))
    try:
        objects = render_project(state, settings, secrets)
    except RenderError as exc:
        echo_problems(exc.problems)
        raise click.ClickException(
            f"project {project!r} cannot be rendered; fix the problems above"
        ) from None
    click.echo(_format(objects, output), nl=False)


def _format(objects: list[dict[str, Any]], output: str) -> str:
    if output == "json":
        document = {"apiVersion": "v1", "kind": "List", "items": objects}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    from reconciler.yaml_text import dump_yaml

    return dump_yaml(objects)


# -- shared with `rise diff` ------------------------------------------------------------


def open_state(path: Path) -> StateRepo:
    from reconciler.state import StateError, StateRepo

    try:
        return StateRepo(path)
    except StateError as exc:
        raise click.ClickException(str(exc)) from None


def load_settings(config_path: Path | None) -> RenderSettings:
    """Render settings from the server config file and ``RISE_*`` variables."""
    from reconciler.render import RenderError, RenderSettings
    from reconciler.server.config import load_config
    from schemas import SchemaError

    try:
        return RenderSettings.from_config(load_config(config_path, os.environ))
    except (SchemaError, RenderError) as exc:
        echo_problems(exc.problems)
        raise click.ClickException("the server configuration is not valid") from None


def load_secrets(path: Path | None) -> SecretBox | None:
    from reconciler.secrets import SecretBox

    if path is None:
        return None
    try:
        return SecretBox.from_file(path)
    except ValueError as exc:  # binascii.Error is a ValueError too
        raise click.ClickException(
            f"{path}: not a secrets key ({exc}); it holds 32 random bytes in base64"
        ) from None


def project_at(repo: StateRepo, name: str, ref: str | None) -> ProjectState | None:
    """One project at ``ref``, validated; None when it does not exist."""
    from reconciler.state import StateError

    try:
        return repo.project(name, ref)
    except StateError as exc:
        raise click.ClickException(str(exc)) from None


def missing_project(repo: StateRepo, name: str, ref: str | None) -> str:
    from schemas.errors import did_you_mean

    names = repo.changed_projects(None, ref)
    return f"no project {name!r} at {ref or repo.branch}{did_you_mean(name, names)}"


def echo_problems(problems: list[Any]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
