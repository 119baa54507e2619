"""``rise team`` (``rise t``): create, list, show, update and delete teams.

A team owns projects; its owners manage it, its members deploy its projects. Membership
changes are sent as ``add_*``/``remove_*`` so two people editing one team at once do not undo
each other (the server re-applies them on top of the latest state).
"""

from __future__ import annotations

from typing import Any

import click

from cli._group import AliasedGroup
from cli._named import delete_named, suggesting, update_named
from cli.completion import complete_teams
from cli.output import detail, emit, output_option, table
from cli.session import session_client

TEAM_COLUMNS = ("TEAM", "OWNERS", "MEMBERS")

_team_name = click.argument("name", shell_complete=complete_teams)


@click.group(cls=AliasedGroup)
def team() -> None:
    """Create and manage teams (alias: t)."""


@team.command("create")
@click.argument("name")
@click.option("--owner", "owners", multiple=True, metavar="USER", help="An owner (default: you).")
@click.option("--member", "members", multiple=True, metavar="USER", help="A member.")
@output_option
def create(name: str, owners: tuple[str, ...], members: tuple[str, ...], output: str) -> None:
    """Create a team; you own it unless you name other owners (then include yourself)."""
    created = session_client().post(
        "/teams", {"name": name, "owners": list(owners), "members": list(members)}
    )
    emit(created, output, lambda t: f"Created team '{t['name']}' ({_people(t)}).")


@team.command("list")
@output_option
def list_teams(output: str) -> None:
    """List the teams you belong to (admins: all teams)."""
    emit(session_client().get("/teams"), output, teams_table)


@team.command("show")
@_team_name
@output_option
def show(name: str, output: str) -> None:
    """Show a team's owners and members."""
    client = session_client()
    with suggesting(client, name, "team"):
        emit(client.get(f"/teams/{name}"), output, _team_detail)


@team.command("update")
@_team_name
@click.option("--add-owner", "add_owners", multiple=True, metavar="USER", help="Add an owner.")
@click.option(
    "--remove-owner", "remove_owners", multiple=True, metavar="USER", help="Remove an owner."
)
@click.option("--add-member", "add_members", multiple=True, metavar="USER", help="Add a member.")
@click.option(
    "--remove-member", "remove_members", multiple=True, metavar="USER", help="Remove a member."
)
@output_option
def update(
    name: str,
    add_owners: tuple[str, ...],
    remove_owners: tuple[str, ...],
    add_members: tuple[str, ...],
    remove_members: tuple[str, ...],
    output: str,
) -> None:
    """Add or remove a team's owners and members (team owners and admins only)."""
    body = {
        key: list(values)
        for key, values in {
            "add_owners": add_owners,
            "remove_owners": remove_owners,
            "add_members": add_members,
            "remove_members": remove_members,
        }.items()
        if values
    }
    if not body:
        raise click.UsageError(
            "nothing to change: give --add-owner, --remove-owner, --add-member or --remove-member"
        )
    update_named(
        "team", name, body, output, lambda t: f"Updated team '{t['name']}' ({_people(t)})."
    )


@team.command("delete")
@_team_name
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a team (give its projects another owner first)."""
    delete_named("team", name, yes=yes, question=f"Delete team '{name}'?")


def teams_table(rows: list[dict[str, Any]]) -> str:
    return table(TEAM_COLUMNS, [(r["name"], r["owners"], r["members"]) for r in rows])


def _people(t: dict[str, Any]) -> str:
    owners = ", ".join(t["owners"]) or "none"
    return f"owners: {owners}; members: {', '.join(t['members']) or 'none'}"


def _team_detail(t: dict[str, Any]) -> str:
    return detail(
        [("team", t["name"]), ("owners", t["owners"] or "-"), ("members", t["members"] or "-")]
    )
