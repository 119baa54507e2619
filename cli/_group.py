"""A click group that imports a command's module only when that command runs.

``rise --help`` must stay fast, so heavy libraries (pygit2, kubernetes, boto3) are imported by
the command modules, never here. Short aliases (``p`` for ``project``, ``c`` for ``create``)
resolve to the full names.
"""

from __future__ import annotations

import importlib

import click

ALIASES = {
    "p": "project",
    "d": "deployment",
    "t": "team",
    "sa": "service-account",
    "c": "create",
    "ls": "list",
    "s": "show",
    "rm": "delete",
}


class AliasedGroup(click.Group):
    """Resolves the standard short aliases and suggests a close match for a typo."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            choices = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{choices[0]}'?" if choices else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        _, cmd, rest = super().resolve_command(ctx, args)
        # The name typed (aliases spelled out), not the command's own: 'rise deploy' is the
        # 'create' command of 'rise deployment' and its usage line says 'rise deploy'.
        return ALIASES.get(name, name) if cmd else None, cmd, rest


class LazyGroup(AliasedGroup):
    """Commands given as ``"module:attribute"`` strings, loaded on first use."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy  # name -> (import path, one-line help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        if name in self._lazy and name not in self.commands:
            module, _, attr = self._lazy[name][0].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command module.
        rows = [(name, self._lazy[name][1]) for name in sorted(self._lazy)]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in sorted(self.commands.items())
            if name not in self._lazy
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
