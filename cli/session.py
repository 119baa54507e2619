"""The global options (``--url``, ``--profile``) and the API client a command gets from them.

The root group stores a :class:`Session` on the click context; a command asks it for a
client with ``session_client()``. Nothing here is imported by ``rise --help``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import click

from cli.client import Client
from cli.config import Config, Connection, Profile, config_path, connect, profile_name
from cli.errors import CliError
from cli.versions import warn_if_mismatched


@dataclass
class Session:
    """What the root options chose, and the config file they are read from."""

    url: str | None = None
    profile: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load(config_path(self.environ))
        return self._config

    @property
    def profile_name(self) -> str:
        return profile_name(self.profile, self.environ, self.config)

    def current_profile(self) -> Profile:
        return self.config.profile(self.profile_name)

    def connection(self) -> Connection:
        return connect(self.config, self.environ, url=self.url, profile=self.profile)

    def client(
        self, connection: Connection | None = None, *, timeout: float | None = None
    ) -> Client:
        connection = connection or self.connection()

        def refreshed(tokens: Mapping[str, Any]) -> None:
            self.save_tokens(connection, tokens)
            self.check_version(client)

        client = Client(connection, save_tokens=refreshed, timeout=timeout)
        return client

    def save_tokens(self, connection: Connection, tokens: Mapping[str, Any]) -> None:
        """Keep a new token pair in the profile the connection came from."""
        if connection.token_from_env:
            return
        stored = self.config.profiles.get(connection.profile.name, connection.profile)
        profile = replace(
            stored,
            url=connection.url,
            access_token=tokens["access_token"],
            refresh_token=tokens.get("refresh_token", stored.refresh_token),
        )
        self.config.put(profile)

    def check_version(self, client: Client) -> None:
        """Warn once per server version when it is another minor version than the CLI."""
        try:
            server = str(client.public("GET", "/version")["version"])
        except (CliError, KeyError, TypeError):
            return  # an old or odd server: the command itself will say what is wrong
        name = client.connection.profile.name
        profile = self.config.profiles.get(name)
        warned = profile.warned_version if profile else None
        if warn_if_mismatched(client.url, server, warned) and profile is not None:
            self.config.put(replace(profile, warned_version=server))


def current_session() -> Session:
    ctx = click.get_current_context()
    session = ctx.find_object(Session)
    if session is None:  # a command run on its own, outside the root group (tests, embedding)
        session = ctx.ensure_object(Session)
    return session


def session_client() -> Client:
    """The API client for the running command, closed when the command ends."""
    client = current_session().client()
    click.get_current_context().call_on_close(client.close)
    return client
