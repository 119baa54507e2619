"""Commands on a resource the user names (a project, a team): update, delete, close matches.

The API has one shape for both (``/projects/{name}``, ``/teams/{name}``), so the commands
share it: a 404 for a mistyped name gets the close match among the names the caller may see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Literal

import click

from cli.client import Client
from cli.errors import suggest_close_match
from cli.output import emit
from cli.session import session_client

Kind = Literal["project", "team"]


def suggesting(client: Client, name: str, kind: Kind = "project") -> AbstractContextManager[None]:
    """On a not-found error, suggest the ``kind`` the user may have meant by ``name``."""

    def names() -> Iterator[str]:
        return (row["name"] for row in client.get(f"/{kind}s"))

    return suggest_close_match(name, names, kind)


def update_named(
    kind: Kind, name: str, body: dict[str, Any], output: str, done: Callable[[Any], str]
) -> None:
    client = session_client()
    with suggesting(client, name, kind):
        updated = client.patch(f"/{kind}s/{name}", body)
    emit(updated, output, done)


def delete_named(kind: Kind, name: str, *, yes: bool, question: str) -> None:
    if not yes:
        click.confirm(question, abort=True)
    client = session_client()
    with suggesting(client, name, kind):
        client.delete(f"/{kind}s/{name}")
    click.echo(f"Deleted {kind} '{name}'.")
