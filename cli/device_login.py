"""``rise login`` through the device flow (RFC 8628): print a link, wait for its approval.

The server hands out a code pair; the person opens the printed link (a browser opens it for
them when there is one), signs in and approves; meanwhile the CLI polls the token endpoint,
slowing down when the server says so, until it answers with tokens or a final refusal.
"""

from __future__ import annotations

import sys
import time
import webbrowser
from collections.abc import Callable, Mapping
from typing import Any

import click
import httpx

from cli.client import Client
from cli.errors import EXIT_AUTH, CliError

CLIENT_ID = "rise-cli"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_SECONDS = 5


def device_login(
    client: Client,
    endpoint: str,
    environ: Mapping[str, str],
    *,
    open_browser: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The token answer once the login is approved; a CliError when denied or expired."""
    started = client.form(endpoint, {"client_id": CLIENT_ID})
    if started.status_code != 200:
        raise CliError(
            f"the server refused to start a login: {described(started)}",
            hint="log in with a password instead: rise login URL -u USERNAME",
            exit_code=EXIT_AUTH,
        )
    grant = started.json()
    link = grant["verification_uri_complete"]
    click.echo(f"Please login to rise at {link}")
    if open_browser and has_browser(environ):
        webbrowser.open(link)
    interval = float(grant["interval"])
    deadline = time.monotonic() + float(grant["expires_in"])
    while time.monotonic() < deadline:
        sleep(interval)
        poll = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"]}
        answer = client.form("/oauth/token", {**poll, "client_id": CLIENT_ID})
        if answer.status_code == 200:
            tokens: dict[str, Any] = answer.json()
            return tokens
        error = _error_code(answer)
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_SECONDS
            continue
        raise _refused(error, described(answer))
    raise _refused("expired_token", "the code expired")


def _refused(error: str | None, description: str) -> CliError:
    if error == "access_denied":
        return CliError(
            "the login was denied on the login page",
            hint="run 'rise login' again and choose Approve",
            exit_code=EXIT_AUTH,
        )
    if error == "expired_token":
        return CliError(
            "the login code expired before it was approved",
            hint="run 'rise login' again and open the link within the time it gives",
            exit_code=EXIT_AUTH,
        )
    return CliError(f"the login failed: {description}", exit_code=EXIT_AUTH)


def has_browser(environ: Mapping[str, str]) -> bool:
    """A browser may be opened: not in CI, and on Linux only with a display to show it on."""
    if environ.get("CI") or not sys.stdout.isatty():
        return False
    if sys.platform.startswith("linux"):
        return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return True


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def described(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        text = body.get("error_description") or body.get("message") or body.get("error")
        return str(text or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"
