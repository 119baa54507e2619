"""Shell completion: ``rise completion bash|zsh|fish`` and completing project and team names.

The script is click's own; it calls ``rise`` back with ``_RISE_COMPLETE`` set, and click
answers from the command tree. Names of projects and teams are asked from the server of the
current profile with a short timeout; any failure (not logged in, server down) completes
nothing rather than printing an error into the shell.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

SHELLS = ("bash", "zsh", "fish")
_COMPLETION_TIMEOUT = 2.0


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash: eval "$(rise completion bash)"    (in ~/.bashrc)
    zsh:  eval "$(rise completion zsh)"     (in ~/.zshrc)
    fish: rise completion fish > ~/.config/fish/completions/rise.fish
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    script_class = get_completion_class(shell)
    assert script_class is not None  # the choice above lists only shells click supports
    script = script_class(root.command, {}, "rise", "_RISE_COMPLETE")
    click.echo(script.source())


def complete_projects(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _names(ctx, "/projects", incomplete)


def complete_teams(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _names(ctx, "/teams", incomplete)


def _names(ctx: click.Context, path: str, incomplete: str) -> list[CompletionItem]:
    from contextlib import closing

    from cli.session import Session

    # During completion click parses without running the root callback: rebuild the session
    # from the root options typed so far.
    options = ctx.find_root().params
    session = Session(url=options.get("url"), profile=options.get("profile"))
    try:
        with closing(session.client(timeout=_COMPLETION_TIMEOUT)) as client:
            rows = client.get(path)
    except Exception:  # completion must never break the shell: complete nothing instead
        return []
    return [CompletionItem(row["name"]) for row in rows if str(row["name"]).startswith(incomplete)]
