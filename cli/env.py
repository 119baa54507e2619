"""``rise env``: a project's environment variables and secrets.

A secret's value is never taken from the command line, where it would stay in the shell
history and show in ``ps``: it is typed at a hidden prompt or piped on stdin. The server
encrypts it before it is committed and answers with ``********``; only ``--reveal`` (for those
who may change the project) shows it again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from cli import dotenv
from cli._group import AliasedGroup
from cli._named import suggesting
from cli.client import Client
from cli.completion import complete_projects
from cli.errors import EXIT_USAGE, CliError, suggest_close_match
from cli.output import emit, output_option, table
from cli.session import session_client

ENV_COLUMNS = ("KEY", "VALUE", "SECRET")

_project = click.argument("project", shell_complete=complete_projects)
_reveal = click.option(
    "--reveal", is_flag=True, help="Show secret values (needs the right to change the project)."
)


@click.group(cls=AliasedGroup)
def env() -> None:
    """Set and read a project's environment variables and secrets.

    A secret is encrypted by the server before it is committed and shows as ******** unless
    revealed. Its value never goes on the command line (shell history, ps): type it at the
    hidden prompt or pipe it on stdin. Changes reach the app with its next reconcile.
    """


@env.command("set")
@_project
@click.argument("key")
@click.argument("value", required=False)
@click.option(
    "--secret", is_flag=True, help="Encrypt it; the value is read from stdin or a hidden prompt."
)
def set_(project: str, key: str, value: str | None, secret: bool) -> None:
    """Set KEY of PROJECT to VALUE (or to stdin; a secret always comes from stdin)."""
    if secret and value is not None:
        raise CliError(
            "a secret is never taken from the command line (shell history, ps would keep it)",
            hint=f"type it at the prompt: rise env set {project} {key} --secret, or pipe it: "
            f'printf %s "$VALUE" | rise env set {project} {key} --secret',
            exit_code=EXIT_USAGE,
        )
    if value is None:
        value = _read_value(key, hidden=secret)
    client = session_client()
    with suggesting(client, project):
        client.put(f"/projects/{project}/env/{key}", {"value": value, "secret": secret})
    click.echo(f"Set {'secret' if secret else 'variable'} {key} of '{project}'.")


@env.command("get")
@_project
@click.argument("key")
@_reveal
@output_option
def get(project: str, key: str, reveal: bool, output: str) -> None:
    """Print the value of KEY (a secret masked unless --reveal)."""
    client = session_client()
    with suggesting(client, project), _suggesting_key(client, project, key):
        var = client.get(f"/projects/{project}/env/{key}", reveal=_flag(reveal))
    emit(var, output, lambda v: v["value"])


@env.command("list")
@_project
@_reveal
@output_option
def list_env(project: str, reveal: bool, output: str) -> None:
    """List the variables and secrets of PROJECT (secrets masked unless --reveal)."""
    client = session_client()
    with suggesting(client, project):
        rows = client.get(f"/projects/{project}/env", reveal=_flag(reveal))
    emit(rows, output, _env_table)


@env.command("unset")
@_project
@click.argument("key")
def unset(project: str, key: str) -> None:
    """Remove KEY from PROJECT."""
    client = session_client()
    with suggesting(client, project), _suggesting_key(client, project, key):
        client.delete(f"/projects/{project}/env/{key}")
    click.echo(f"Unset {key} of '{project}'.")


@env.command("import")
@_project
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--secret", "secret_keys", multiple=True, metavar="KEY", help="Import KEY as a secret."
)
@click.option("--all-secret", is_flag=True, help="Import every key as a secret.")
@click.option(
    "--replace", is_flag=True, help="Remove the variables and secrets the file does not name."
)
def import_(
    project: str, file: Any, secret_keys: tuple[str, ...], all_secret: bool, replace: bool
) -> None:
    """Set the variables of a dotenv FILE ('-' for stdin) in one commit.

    Keys after a '# rise:secret' comment (as 'rise env export --reveal' writes them), those
    named with --secret, or all with --all-secret are imported as secrets.
    """
    name = getattr(file, "name", "-")
    try:
        entries = dotenv.parse(file.read())
    except UnicodeDecodeError as exc:
        raise CliError(f"{name}: not UTF-8 text (byte {exc.start})", exit_code=EXIT_USAGE) from None
    except dotenv.DotenvError as exc:
        raise CliError(
            f"{name}: {exc}", hint="see 'rise env import --help'", exit_code=EXIT_USAGE
        ) from None
    if not entries:  # with --replace this would wipe the project's env: surely a mistake
        raise CliError(f"{name} sets no variables; nothing was changed", exit_code=EXIT_USAGE)
    missing = sorted(set(secret_keys) - {e.key for e in entries})
    if missing:
        raise CliError(
            f"--secret names keys that {name} does not set: {', '.join(missing)}",
            exit_code=EXIT_USAGE,
        )
    body: dict[str, Any] = {"vars": {}, "secrets": {}, "replace": replace}
    for entry in entries:
        kind = "secrets" if all_secret or entry.secret or entry.key in secret_keys else "vars"
        body[kind][entry.key] = entry.value
    client = session_client()
    with suggesting(client, project):
        answer = client.post(f"/projects/{project}/env/import", body)
    secrets = len(body["secrets"])
    click.echo(
        f"Imported {len(answer['set'])} keys into '{project}' ({secrets} secret)"
        + (f"; removed {', '.join(answer['removed'])}" if answer["removed"] else "")
        + "."
    )


@env.command("export")
@_project
@_reveal
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (mode 0600) instead of stdout.",
)
def export(project: str, reveal: bool, path: Path | None) -> None:
    """Print PROJECT's variables as a dotenv file; secrets are comments unless --reveal."""
    client = session_client()
    with suggesting(client, project):
        rows = client.get(f"/projects/{project}/env", reveal=_flag(reveal))
    lines = []
    for row in rows:
        if row["secret"] and not reveal:
            lines.append(f"# {row['key']} is a secret (rise env export --reveal shows it)\n")
        else:
            entry = dotenv.Entry(row["key"], row["value"], row["secret"])
            lines.append(dotenv.format_entries([entry]))
    text = "".join(lines)
    if path is None:
        click.echo(text, nl=False)
        return
    _write_private(path, text)
    click.echo(f"Wrote {len(rows)} keys of '{project}' to {path}.", err=True)


def _read_value(key: str, *, hidden: bool) -> str:
    """The value from a prompt on a terminal (hidden for a secret), else all of stdin."""
    if sys.stdin.isatty():
        return str(click.prompt(f"Value of {key}", hide_input=hidden, err=True))
    value = sys.stdin.read()
    if not value:  # nothing piped: a mistake, not an empty secret
        raise CliError(
            f"no value for {key} on standard input",
            hint="pipe it in, or run the command in a terminal to type it",
            exit_code=EXIT_USAGE,
        )
    # One trailing newline is the shell's (echo, <<<); a value that needs it can be quoted
    # in a dotenv file and imported.
    return value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")


def _write_private(path: Path, text: str) -> None:
    import os

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def _suggesting_key(client: Client, project: str, key: str) -> AbstractContextManager[None]:
    def keys() -> Iterator[str]:
        return (row["key"] for row in client.get(f"/projects/{project}/env"))

    return suggest_close_match(key, keys, "variable")


def _flag(value: bool) -> str | None:
    return "true" if value else None


def _env_table(rows: list[dict[str, Any]]) -> str:
    return table(ENV_COLUMNS, [(r["key"], r["value"], r["secret"]) for r in rows])
