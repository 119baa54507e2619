"""``rise deployment`` (``rise d``): create (``rise deploy``), list, show, stop, roll back.

``rise d c`` goes from an app folder to a running app: find ``.rise.toml``, build, push with
credentials fetched for the push, pin the digest, create the deployment, follow it. Nothing
is committed before the image is pushed, so Ctrl-C during a build or push changes nothing;
Ctrl-C while following only stops following (docs/deploy.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli._group import AliasedGroup
from cli._named import suggesting
from cli.appconfig import config_options
from cli.client import Client
from cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError
from cli.follow import DEFAULT_TIMEOUT, follow, resume_command, success_line
from cli.output import detail, emit, output_option, status_text, step, table
from cli.session import session_client

if TYPE_CHECKING:
    from cli.appconfig import AppFolder

DEPLOYMENT_COLUMNS = ("ID", "STATUS", "IMAGE", "DEPLOYED BY", "WHEN")


@click.group(cls=AliasedGroup)
def deployment() -> None:
    """Deploy apps and manage their deployments (alias: d)."""


def _timeout_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="How long to follow before giving up (the rollout goes on).",
    )(command)


def _follow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = _timeout_option(command)
    return click.option(
        "--no-follow", is_flag=True, help="Return once the deployment is committed."
    )(command)


@deployment.command("create")
@click.argument("project", required=False)
@click.option("--image", help="Deploy this pre-built image (a tag is resolved to its digest).")
@click.option("--dry-run", is_flag=True, help="Print the deploy's diff; change nothing.")
@config_options
@click.option("--group", help="Deployment group (default: default).")
@click.option("--from", "from_id", metavar="ID", help="Redeploy an earlier deployment (rollback).")
@click.option("--review", is_flag=True, help="Ask for a review instead of deploying directly.")
@click.option("--backend", metavar="NAME", help="Build backend (default: .rise.toml, then auto).")
@click.option("-v", "--verbose", is_flag=True, help="Show the build and push tools' output.")
@_follow_options
@output_option
def create(
    project: str | None,
    image: str | None,
    dry_run: bool,
    environment: str | None,
    group: str | None,
    from_id: str | None,
    env_pairs: tuple[str, ...],
    review: bool,
    backend: str | None,
    verbose: bool,
    no_follow: bool,
    timeout: float,
    output: str,
) -> None:
    """Build, push and deploy the app here; follow it until it runs.

    PROJECT defaults to the project of the nearest .rise.toml. Follows the rollout until the
    app is running (exit 0) or failed (exit 1, with the reason). With --dry-run: exit 0 when
    nothing would change, 1 when something would.
    """
    if from_id and (image or env_pairs):
        raise click.UsageError("--from redeploys an earlier deployment as it was: drop --image/-e")
    client = session_client()
    request = DeployRequest(project, image, environment, group, from_id, env_pairs, review)
    name = request.project_name()
    with suggesting(client, name):
        body = request.body(client, build=not dry_run, backend=backend, verbose=verbose)
        if dry_run:
            from cli.diff import print_dry_run

            answer = client.request("POST", _deployments(name), json=body, params={"dry_run": 1})
            click.get_current_context().exit(print_dry_run(answer, output))
        roll_out(
            client,
            name,
            f"Deploying '{name}' ...",
            lambda: client.post(_deployments(name), body),
            no_follow=no_follow,
            timeout=timeout,
            output=output,
        )


@deployment.command("list")
@click.argument("project")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@output_option
def list_deployments(project: str, limit: int, output: str) -> None:
    """List a project's deployments, newest first.

    Who deployed which image when, and how each is doing.
    """
    client = session_client()
    with suggesting(client, project):
        rows = client.get(_deployments(project), limit=limit)
    emit(rows, output, _deployments_table)


@deployment.command("show")
@click.argument("ids", nargs=-1, required=True, metavar="[PROJECT] ID")
@click.option("-f", "--follow", "follow_it", is_flag=True, help="Follow it until it settles.")
@_timeout_option
@output_option
def show(ids: tuple[str, ...], follow_it: bool, timeout: float, output: str) -> None:
    """Show one deployment; --follow waits until it settles.

    PROJECT defaults to the project of the nearest .rise.toml.
    """
    if len(ids) > 2:
        raise click.UsageError("give at most PROJECT and ID")
    project = ids[0] if len(ids) == 2 else _project_here()
    deployment_id = ids[-1]
    client = session_client()
    with suggesting(client, project):
        if follow_it:
            with step(f"Following deployment {deployment_id} of '{project}' ..."):
                info = follow(client, project, deployment_id, timeout)
            emit(info, output, success_line)
            return
        emit(client.get(f"{_deployments(project)}/{deployment_id}"), output, _deployment_detail)


@deployment.command("stop")
@click.argument("project")
@output_option
def stop(project: str, output: str) -> None:
    """Stop a project's app.

    Its deployment stays in the history; deploy again (or roll back) to start it.
    """
    client = session_client()
    with suggesting(client, project):
        info = client.post(f"{_deployments(project)}/stop")
    emit(info, output, lambda d: f"Stopped '{project}' (deployment {d['id']}).")


@deployment.command("rollback")
@click.argument("project")
@click.argument("deployment_id", required=False, metavar="[ID]")
@_follow_options
@output_option
def rollback(
    project: str, deployment_id: str | None, no_follow: bool, timeout: float, output: str
) -> None:
    """Redeploy an earlier deployment (default: the previous one)."""
    client = session_client()
    with suggesting(client, project):
        target = deployment_id or _previous(client, project)
        roll_out(
            client,
            project,
            f"Rolling back '{project}' to {target} ...",
            lambda: client.post(f"{_deployments(project)}/{target}/rollback"),
            no_follow=no_follow,
            timeout=timeout,
            output=output,
        )


class DeployRequest:
    """What ``rise d c`` (and ``rise diff PROJECT``) send: the deployment API's body."""

    def __init__(
        self,
        project: str | None = None,
        image: str | None = None,
        environment: str | None = None,
        group: str | None = None,
        from_id: str | None = None,
        env_pairs: tuple[str, ...] = (),
        review: bool = False,
        start: Path | None = None,
    ) -> None:
        from cli.appconfig import find_app_folder, parse_env_pairs

        self.image, self.environment, self.group = image, environment, group
        self.from_id, self.review = from_id, review
        self.env = parse_env_pairs(env_pairs)
        self.start = start or Path.cwd()
        self.folder: AppFolder | None = find_app_folder(self.start)
        self.project = project

    def project_name(self) -> str:
        """PROJECT, else the ``.rise.toml``'s project; they must agree when both are given."""
        configured = self.folder.config.project if self.folder else None
        if self.project and configured and self.project != configured:
            assert self.folder is not None
            raise CliError(
                f"{self.folder.path} says project = {configured!r}, but you asked for "
                f"{self.project!r}",
                hint=f"deploy from {self.project!r}'s own folder, or fix 'project' there",
                exit_code=EXIT_USAGE,
            )
        name = self.project or configured
        if not name:
            from cli.appconfig import missing_config_error

            if self.folder is None:
                raise missing_config_error(self.start, None)
            raise CliError(
                f"which project? {self.folder.path} names none",
                hint=f'give PROJECT, or add project = "<name>" to {self.folder.path}',
                exit_code=EXIT_USAGE,
            )
        return name

    def body(
        self, client: Client, *, build: bool, backend: str | None = None, verbose: bool = False
    ) -> dict[str, Any]:
        """The request body; builds and pushes the app first unless ``build`` is False."""
        name = self.project_name()
        body: dict[str, Any] = {
            "group": self.group,
            "environment": self.environment,
            "from": self.from_id,
            "review": True if self.review else None,
        }
        if not self.from_id:
            body["image"] = self._image(client, name, build, backend, verbose)
            body["app_config"] = self._app_config(client, name)
        return {key: value for key, value in body.items() if value is not None}

    def _image(
        self, client: Client, name: str, build: bool, backend: str | None, verbose: bool
    ) -> str | None:
        from cli.images.backends import BuildError
        from cli.images.push import client_credentials
        from cli.images.release import build_and_push, pinned_image

        credentials = client_credentials(client)
        try:
            if self.image:
                return pinned_image(self.image, name, credentials, step).pinned
            if not build:
                return None  # a dry run before the build: the server keeps the current image
            if self.folder is None:
                from cli.appconfig import missing_config_error

                raise missing_config_error(self.start, name)
            log = (lambda line: click.echo(line, err=True)) if verbose else (lambda line: None)
            pushed = build_and_push(
                self.folder.root, name, credentials, step,
                backend=backend, environ=os.environ, log=log,
            )  # fmt: skip
            return pushed.pinned
        except ValueError as exc:  # a malformed image reference
            raise CliError(str(exc), exit_code=EXIT_USAGE) from None
        except BuildError as exc:
            raise CliError(str(exc)) from None
        except KeyboardInterrupt:
            # click would say only "Aborted!": say what was (not) done.
            raise CliError(
                "\nInterrupted before the deploy: nothing was committed, nothing was deployed.",
                exit_code=EXIT_INTERRUPTED,
            ) from None

    def _app_config(self, client: Client, name: str) -> dict[str, Any] | None:
        from cli.appconfig import with_env

        if self.folder is not None:
            return with_env(self.folder.raw, self.env, self.environment)
        if not self.env:
            return None  # the server keeps the app config last deployed
        # -e without a .rise.toml: the config last deployed, with these variables added.
        last = client.get(f"/projects/{name}").get("app_config") or {}
        return with_env(last, self.env, self.environment)


def roll_out(
    client: Client,
    project: str,
    announcement: str,
    create: Callable[[], dict[str, Any]],
    *,
    no_follow: bool,
    timeout: float,
    output: str,
) -> None:
    """Create a deployment (``create``), then follow it unless asked not to; print the end."""
    with step(announcement):
        try:
            created = create()
        except KeyboardInterrupt:
            raise CliError(
                "\nInterrupted while the deployment was being created; the server may have "
                "committed it",
                hint=f"see with 'rise d ls {project}'",
                exit_code=EXIT_INTERRUPTED,
            ) from None
        waits = bool(created.get("review"))  # on a review branch: nothing to follow yet
        info = created if no_follow or waits else follow(client, project, created["id"], timeout)
    if waits:
        emit(
            info,
            output,
            lambda d: (
                f"Deployment {d['id']} of '{project}' waits for review on "
                f"review/{project}/{d['id']}; a teammate approves it with "
                f"'rise review approve {project}/{d['id']}'"
            ),
        )
    elif no_follow:
        emit(
            info,
            output,
            lambda d: (
                f"Deployment {d['id']} committed; follow it with "
                f"'{resume_command(project, d['id'])}'"
            ),
        )
    else:
        emit(info, output, success_line)


def _project_here() -> str:
    from cli.appconfig import find_app_folder

    folder = find_app_folder(Path.cwd())
    if folder is None or folder.config.project is None:
        raise click.UsageError("which project? give PROJECT ID (no .rise.toml here names one)")
    return folder.config.project


def _deployments(project: str) -> str:
    return f"/projects/{project}/deployments"


def _previous(client: Client, project: str) -> str:
    # Not limit=2: the limit counts commits of deployment.toml, and a stop is one of them.
    rows = client.get(_deployments(project))
    if len(rows) < 2:
        raise CliError(
            f"project '{project}' has no earlier deployment to roll back to",
            hint=f"list its deployments with 'rise d ls {project}'",
            exit_code=EXIT_USAGE,
        )
    return str(rows[1]["id"])


def _short_image(image: str) -> str:
    name, at, digest = image.partition("@")
    return f"{name}@{digest[:19]}" if at else image  # sha256: and 12 hex digits


def _when(timestamp: str | None) -> str:
    return (timestamp or "-").replace("T", " ").replace("+00:00", "Z")


def _deployments_table(rows: list[dict[str, Any]]) -> str:
    return table(
        DEPLOYMENT_COLUMNS,
        [
            (
                r["id"],
                status_text(r["status"]),
                _short_image(r["image"]),
                r["created_by"],
                _when(r["created_at"]),
            )
            for r in rows
        ],
    )


def _deployment_detail(d: dict[str, Any]) -> str:
    return detail(
        [
            ("deployment", d["id"]),
            ("project", d["project"]),
            ("status", status_text(d["status"])),
            ("reason", d.get("reason")),
            ("image", d["image"]),
            ("group", d["group"]),
            ("environment", d.get("environment")),
            ("replicas", d.get("replicas")),
            ("rollback of", d.get("rollback_of")),
            ("deployed by", d["created_by"]),
            ("approved by", ", ".join(d.get("approved_by") or [])),
            ("when", _when(d["created_at"])),
            ("commit", d.get("commit")),
            ("url", d["url"]),
        ]
    )
