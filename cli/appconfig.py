"""The app folder a deploy starts from: its ``.rise.toml``, found by walking up, and the
``app_config`` the deploy sends with the command line's ``-e KEY=VALUE`` merged in.

A deploy sends the file as the user wrote it (the server validates it again and stores it as
``projects/<name>/.rise.toml``); ``-e`` values land in its ``[env]`` table, and in the
``[environments.<name>]`` table the deploy selects, so they win over both (SPEC §4: a flag
beats the file).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli.errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from schemas import AppConfig

CONFIG_FILE = ".rise.toml"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

F = TypeVar("F", bound=Callable[..., Any])


def config_options(command: F) -> F:
    """``-E/--environment`` and ``-e KEY=VALUE``: what ``rise d c`` and ``rise diff PROJECT``
    change in the app config they send."""
    command = click.option(
        "-e",
        "--env",
        "env_pairs",
        multiple=True,
        metavar="KEY=VALUE",
        help="A variable for this deploy (repeatable); merged into .rise.toml's [env].",
    )(command)
    return click.option("-E", "--environment", help="Apply [environments.NAME] of .rise.toml.")(
        command
    )


@dataclass(frozen=True)
class AppFolder:
    """An app folder: where its ``.rise.toml`` is, what it says, and the raw table."""

    path: Path
    config: AppConfig
    raw: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.path.parent


def find_app_folder(start: Path) -> AppFolder | None:
    """The nearest ``.rise.toml`` in ``start`` or a parent, up to the git repository's root
    (the folder holding ``.git``); None when there is none. An invalid file is a CliError
    naming the file and the problem."""
    folder = start.resolve()
    while True:
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return _load(candidate)
        if (folder / ".git").exists() or folder.parent == folder:
            return None
        folder = folder.parent


def missing_config_error(start: Path, project: str | None) -> CliError:
    """What to say when there is no ``.rise.toml`` to deploy from."""
    name = project or "my-app"
    return CliError(
        f"no {CONFIG_FILE} in {start.resolve()} or a parent folder (up to the repository root)",
        hint=(
            f"create one in the app's folder: printf 'project = \"{name}\"\\n' > {CONFIG_FILE} "
            "(see docs/rise-toml.md), or deploy a pre-built image with --image"
        ),
        exit_code=EXIT_USAGE,
    )


def parse_env_pairs(values: Sequence[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` flags, in order (a later KEY wins); CliError on a malformed one."""
    env: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise CliError(
                f"-e {value!r}: expected KEY=VALUE with KEY a variable name",
                hint="e.g. -e LOG_LEVEL=debug; secrets go in 'rise env set PROJECT KEY --secret'",
                exit_code=EXIT_USAGE,
            )
        env[key] = text
    return env


def with_env(
    raw: Mapping[str, Any], env: Mapping[str, str], environment: str | None
) -> dict[str, Any]:
    """A copy of the app config table with ``env`` merged into ``[env]`` and into the
    selected environment's ``env`` (when the file defines that environment)."""
    merged = copy.deepcopy(dict(raw))
    if not env:
        return merged
    merged["env"] = {**(merged.get("env") or {}), **env}
    environments = merged.get("environments") or {}
    if environment and isinstance(environments.get(environment), dict):
        chosen = environments[environment]
        chosen["env"] = {**(chosen.get("env") or {}), **env}
    return merged


def _load(path: Path) -> AppFolder:
    from schemas import AppConfig, SchemaError
    from schemas.errors import parse_model, parse_toml

    try:
        raw = parse_toml(path.read_text(encoding="utf-8"), str(path))
        config = parse_model(raw, AppConfig, str(path))
    except SchemaError as exc:
        raise CliError(
            f"{path} is not valid",
            hint=f"fix {path} (see docs/rise-toml.md) and run the command again",
            exit_code=EXIT_USAGE,
            problems=[str(p) for p in exc.problems],
        ) from None
    return AppFolder(path, config, raw)
