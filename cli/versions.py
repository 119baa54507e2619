"""Warn once when the server runs another minor version than this CLI.

The check rides on round trips the CLI makes anyway (logging in, refreshing a token, about
every quarter hour), so no command pays for an extra request. The server version warned about
is remembered in the profile: a warning appears once per server version, not on every call.
"""

from __future__ import annotations

import re

import click

_MINOR = re.compile(r"^(\d+)\.(\d+)")


def cli_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("rise-deploy")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def mismatch(server: str, cli: str) -> bool:
    """Whether two versions differ in major or minor (unparseable versions never do)."""
    ours, theirs = _MINOR.match(cli), _MINOR.match(server)
    return bool(ours and theirs and ours.groups() != theirs.groups())


def warning(url: str, server: str, cli: str) -> str:
    return (
        f"warning: the server at {url} runs rise {server} and this CLI is {cli}; "
        f"commands may behave differently — install rise {_minor(server)} to match"
    )


def warn_if_mismatched(url: str, server: str, warned: str | None) -> bool:
    """Print the warning unless ``warned`` is already this server version; whether it did."""
    cli = cli_version()
    if server == warned or not mismatch(server, cli):
        return False
    click.echo(warning(url, server, cli), err=True)
    return True


def _minor(version: str) -> str:
    match = _MINOR.match(version)
    return f"{match.group(1)}.{match.group(2)}" if match else version
