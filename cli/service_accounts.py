"""``rise service-account`` (``rise sa``): let CI deploy a project without a stored secret.

A service account names a trusted issuer (GitHub Actions, GitLab CI, ...) and claims its
tokens must carry; a pipeline sends its own short-lived token as ``RISE_TOKEN`` and acts as
the account (docs/auth.md). The server checks everything (trusted issuer, claims, owner
rights); the CLI only splits ``--claim NAME=VALUE`` and prints.
"""

from __future__ import annotations

from typing import Any

import click

from cli._group import AliasedGroup
from cli._named import suggesting
from cli.completion import complete_projects
from cli.output import emit, output_option, table
from cli.session import session_client

COLUMNS = ("NAME", "ISSUER", "CLAIMS", "CREATED BY")

_project = click.argument("project", shell_complete=complete_projects)


def _claims(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    claims: dict[str, str] = {}
    for value in values:
        name, sep, pattern = value.partition("=")
        name = name.strip()
        if not sep or not name or not pattern:
            raise click.BadParameter(
                f"{value!r} is not NAME=VALUE; e.g. --claim repository=org/app "
                "--claim ref=refs/heads/main (VALUE may use * ? [..] globs)",
                ctx,
                param,
            )
        if name in claims:
            raise click.BadParameter(f"claim {name!r} is given twice", ctx, param)
        claims[name] = pattern
    return claims


@click.group(cls=AliasedGroup)
def service_account() -> None:
    """Let CI pipelines deploy a project with their own tokens (alias: sa)."""


@service_account.command("create")
@_project
@click.argument("name")
@click.option(
    "--issuer",
    required=True,
    metavar="URL",
    help="A trusted issuer of the server, e.g. https://token.actions.githubusercontent.com.",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    required=True,
    metavar="NAME=VALUE",
    callback=_claims,
    help="A claim the token must carry (repeat; all must match; VALUE may use * ? [..]).",
)
@output_option
def create(project: str, name: str, issuer: str, claims: dict[str, str], output: str) -> None:
    """Create service account NAME of PROJECT (project owners only)."""
    client = session_client()
    with suggesting(client, project):
        created = client.post(
            f"/projects/{project}/service-accounts",
            {"name": name, "issuer": issuer, "claims": claims},
        )
    emit(
        created,
        output,
        lambda a: (
            f"Created service account '{a['name']}' of project '{a['project']}': tokens "
            f"of {a['issuer']} with {_matchers(a)} may deploy it."
        ),
    )


@service_account.command("list")
@_project
@output_option
def list_accounts(project: str, output: str) -> None:
    """List PROJECT's service accounts."""
    client = session_client()
    with suggesting(client, project):
        rows = client.get(f"/projects/{project}/service-accounts")
    emit(rows, output, _table)


@service_account.command("delete")
@_project
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(project: str, name: str, yes: bool) -> None:
    """Remove service account NAME of PROJECT: its pipelines can no longer deploy."""
    if not yes:
        click.confirm(f"Remove service account '{name}' of project '{project}'?", abort=True)
    client = session_client()
    with suggesting(client, project):
        client.delete(f"/projects/{project}/service-accounts/{name}")
    click.echo(f"Removed service account '{name}' of project '{project}'.")


def _table(rows: list[dict[str, Any]]) -> str:
    return table(
        COLUMNS, [(r["name"], r["issuer"], _matchers(r), r.get("created_by") or "-") for r in rows]
    )


def _matchers(account: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in account["claims"].items())
