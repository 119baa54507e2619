"""``rise profile``: several rise servers side by side, like kubectl contexts.

A profile is a server URL with its TLS settings and the login kept for it. ``rise profile use``
picks the one commands talk to; ``--profile NAME`` or ``RISE_PROFILE`` pick one for a single
command. ``rise login`` logs in within the chosen profile (and creates it when new).
"""

from __future__ import annotations

from typing import Any

import click

from cli._group import AliasedGroup
from cli.config import Config, Profile, check_url
from cli.errors import EXIT_NOT_FOUND, EXIT_USAGE, CliError
from cli.output import emit, output_option, table
from cli.session import current_session

PROFILE_COLUMNS = ("CURRENT", "PROFILE", "URL", "USER")


def _complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [name for name in current_session().config.profiles if name.startswith(incomplete)]


_profile_name = click.argument("name", shell_complete=_complete_profiles)


@click.group(cls=AliasedGroup)
def profile() -> None:
    """Switch between rise servers (like kubectl contexts).

    Each profile keeps a server URL, its TLS settings and the login there. 'rise profile use'
    picks the current one; --profile NAME or RISE_PROFILE pick one for a single command.
    """


@profile.command("add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="CA certificates of a server with a private CA.",
)
@click.option("--allow-http", is_flag=True, help="Allow plain http to a non-loopback host.")
@click.option("--use", "use_it", is_flag=True, help="Make it the current profile.")
def add(name: str, url: str, ca_bundle: str | None, allow_http: bool, use_it: bool) -> None:
    """Add a profile NAME for the server at URL (log in to it with 'rise login')."""
    config = current_session().config
    if name in config.profiles:
        raise CliError(
            f"profile {name!r} exists already ({config.profiles[name].url})",
            hint=f"remove it first with 'rise profile rm {name}', or choose another name",
            exit_code=EXIT_USAGE,
        )
    config.put(
        Profile(
            name,
            url=check_url(url, allow_http=allow_http),
            ca_bundle=ca_bundle,
            allow_http=allow_http,
        )
    )
    if use_it:
        config.current = name
        config.save()
    click.echo(f"Added profile '{name}' for {config.profiles[name].url}.")
    click.echo(f"Log in with: rise --profile {name} login")


@profile.command("use")
@_profile_name
def use(name: str) -> None:
    """Make NAME the profile commands use (--profile and RISE_PROFILE still override it)."""
    config = current_session().config
    _existing(config, name)
    config.current = name
    config.save()
    click.echo(f"Now using profile '{name}' ({config.profiles[name].url}).")


@profile.command("list")
@output_option
def list_profiles(output: str) -> None:
    """List the profiles; * marks the current one. Tokens are never shown."""
    config = current_session().config
    rows = [_public(p, p.name == config.current) for _, p in sorted(config.profiles.items())]
    emit(rows, output, _profiles_table)


@profile.command("delete")
@_profile_name
def delete(name: str) -> None:
    """Remove the profile NAME and the login kept in it."""
    config = current_session().config
    _existing(config, name)
    config.remove(name)
    click.echo(f"Removed profile '{name}'.")


def _existing(config: Config, name: str) -> Profile:
    if name in config.profiles:
        return config.profiles[name]
    import difflib

    match = difflib.get_close_matches(name, list(config.profiles), n=1)
    raise CliError(
        f"there is no profile {name!r}",
        hint=f"did you mean '{match[0]}'?" if match else "list them with 'rise profile ls'",
        exit_code=EXIT_NOT_FOUND,
    )


def _public(p: Profile, current: bool) -> dict[str, Any]:
    """What a profile may show: everything but its tokens."""
    return {
        "name": p.name,
        "current": current,
        "url": p.url,
        "username": p.username,
        "logged_in": bool(p.access_token or p.refresh_token),
        "ca_bundle": p.ca_bundle,
        "allow_http": p.allow_http,
    }


def _profiles_table(rows: list[dict[str, Any]]) -> str:
    return table(
        PROFILE_COLUMNS,
        [
            ("*" if r["current"] else "", r["name"], r["url"], r["username"] or "(logged out)")
            for r in rows
        ],
    )
