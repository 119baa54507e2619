"""``rise login``, ``rise logout``, ``rise whoami``: who the CLI is, on which server.

``rise login URL`` uses the device flow when the server offers it (every server does unless
``[auth.device] enabled = false``): it prints a link, opens a browser when there is one, and
waits for the approval on that page (``cli/device_login.py``). ``--browser`` logs in through
a browser on this computer instead (``cli/browser_login.py``: PKCE, a callback on
127.0.0.1). ``-u USER``, ``--password-stdin`` or ``--password`` choose password login, which
asks for the password at a prompt (or reads it from stdin with ``--password-stdin``), never
from an argument. ``--token`` stores a token made elsewhere (CI uses ``RISE_TOKEN`` instead
and stores nothing). Tokens go to the profile, mode 0600, and are never printed.
"""

from __future__ import annotations

import sys
from contextlib import closing
from dataclasses import replace
from typing import Any

import click

from cli.browser_login import browser_login
from cli.client import Client
from cli.config import Connection, check_url
from cli.device_login import device_login
from cli.errors import EXIT_USAGE, CliError
from cli.output import detail, emit, output_option, style
from cli.session import current_session, session_client


@click.command()
@click.argument("url", required=False)
@click.option("-u", "--username", help="Your rise username (password login).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--password", "password_prompt", is_flag=True, help="Log in with a password (prompted)."
)
@click.option("--no-browser", is_flag=True, help="Only print the login link (device flow).")
@click.option(
    "--browser",
    "pkce",
    is_flag=True,
    help="Log in through a browser on this computer (PKCE, callback on 127.0.0.1).",
)
@click.option(
    "--token", "token_stdin", is_flag=True, help="Read an access token from standard input."
)
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False),
    help="CA certificates of a server with a private CA.",
)
@click.option("--allow-http", is_flag=True, help="Allow plain http to a non-loopback host.")
def login(
    url: str | None,
    username: str | None,
    password_stdin: bool,
    password_prompt: bool,
    no_browser: bool,
    pkce: bool,
    token_stdin: bool,
    ca_bundle: str | None,
    allow_http: bool,
) -> None:
    """Log in to a rise server (URL, or the current profile's) and keep the login.

    By default through the server's login page: open the printed link, sign in there and
    approve. -u, --password or --password-stdin log in with a password instead.
    """
    if pkce and (username or password_stdin or password_prompt or token_stdin or no_browser):
        raise CliError(
            "--browser logs in through the browser: it goes with no -u, --password, "
            "--password-stdin, --token or --no-browser",
            exit_code=EXIT_USAGE,
        )
    session = current_session()
    profile = session.current_profile()
    server = url or session.url or session.environ.get("RISE_URL") or profile.url
    if not server:
        raise CliError(
            "which rise server? give its URL: rise login https://rise.example.com",
            exit_code=EXIT_USAGE,
        )
    allow_http = allow_http or profile.allow_http
    profile = replace(
        profile,
        url=check_url(server, allow_http=allow_http),
        ca_bundle=ca_bundle or profile.ca_bundle,
        allow_http=allow_http,
    )
    anonymous = Connection(
        profile=profile, url=profile.url or server, verify=profile.ca_bundle or True
    )
    with closing(session.client(anonymous)) as client:
        if token_stdin:
            tokens = {"access_token": _stdin_secret("token")}
        else:
            config = client.public("GET", "/api/v1/auth/config")
            endpoint = config.get("device_authorization_endpoint")
            if pkce:
                tokens = browser_login(client, _browser_endpoint(config), session.environ)
            elif endpoint and not (username or password_stdin or password_prompt):
                tokens = device_login(
                    client, endpoint, session.environ, open_browser=not no_browser
                )
            else:
                tokens = _password_login(client, config, username, password_stdin)
    signed_in = replace(anonymous, token=tokens["access_token"])
    with closing(session.client(signed_in)) as client:
        me = client.get("/me")
        session.config.put(
            replace(
                profile,
                access_token=tokens["access_token"],
                refresh_token=tokens.get("refresh_token"),
                username=me["username"],
            )
        )
        click.echo(f"Login successful! Welcome back, {me['username']}!")
        session.check_version(client)


@click.command()
def logout() -> None:
    """Forget the login of the current profile (the profile and its URL stay)."""
    session = current_session()
    profile = session.current_profile()
    if not profile.access_token and not profile.refresh_token:
        click.echo(f"Not logged in{f' to {profile.url}' if profile.url else ''}.")
        return
    session.config.put(replace(profile, access_token=None, refresh_token=None, username=None))
    click.echo(f"Logged out of {profile.url}.")


@click.command()
@output_option
def whoami(output: str) -> None:
    """Show who you are logged in as, and where."""
    client = session_client()
    me = client.get("/me")
    emit(
        me,
        output,
        lambda m: detail(
            [
                ("user", m["username"] + (style(" (admin)", bold=True) if m["is_admin"] else "")),
                ("kind", m["kind"]),
                ("teams", m["teams"]),
                ("server", client.url),
            ]
        ),
    )


def _password_login(
    client: Client, config: dict[str, Any], username: str | None, from_stdin: bool
) -> dict[str, Any]:
    if not config.get("local"):
        raise CliError(
            "this server has no password login",
            hint="run 'rise login URL' without -u to log in through the login page, or use --token",
            exit_code=EXIT_USAGE,
        )
    if not username:
        username = click.prompt("Username")
    password = (
        _stdin_secret("password") if from_stdin else click.prompt("Password", hide_input=True)
    )
    return client.public(
        "POST", "/api/v1/auth/login", json={"username": username, "password": password}
    )


def _browser_endpoint(config: dict[str, Any]) -> str:
    endpoint = config.get("authorization_endpoint")
    if not endpoint:
        raise CliError(
            "this server offers no browser login",
            hint="run 'rise login URL' (device flow) instead",
            exit_code=EXIT_USAGE,
        )
    return str(endpoint)


def _stdin_secret(what: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CliError(f"no {what} on standard input", exit_code=EXIT_USAGE)
    return value
