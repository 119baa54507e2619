"""Generate ``docs/cli.md`` from the click tree: ``python3 -m cli.docs > docs/cli.md``.

Every command's usage, help and options come from the commands themselves, so the page cannot
drift from them; a test regenerates it and fails when the file is stale. The examples are kept
here, in one table keyed by command path; a command without one is listed by
:func:`missing_examples` (a test fails on it too).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click

from cli._group import ALIASES
from cli.errors import __doc__ as EXIT_CODES_DOC

EXAMPLES: dict[str, list[str]] = {
    "login": [
        "rise login https://rise.example.com",
        "rise login https://rise.example.com --browser",
        "rise login http://127.0.0.1:8000 -u admin --password-stdin < password.txt",
        "rise --profile staging login https://staging.rise.example.com",
        'printf %s "$TOKEN" | rise login https://rise.example.com --token',
    ],
    "logout": ["rise logout"],
    "whoami": ["rise whoami", "rise whoami -o json"],
    "project create": [
        "rise p c secret-app --visibility private --owner team:devops",
    ],
    "project list": ["rise p ls", "rise p ls -o json"],
    "project show": ["rise p s secret-app"],
    "project update": [
        "rise p update secret-app --visibility public",
        "rise p update secret-app --review required --max-replicas 4",
    ],
    "project delete": ["rise p rm secret-app --yes"],
    "review list": ["rise review ls", "rise review ls shop --all -o json"],
    "review show": [
        "rise review show 20261202-153012-ab12",
        "rise review show shop/20261202-153012-ab12 --max-lines 200",
    ],
    "review approve": ["rise review approve shop/20261202-153012-ab12"],
    "review reject": ['rise review reject 20261202-153012-ab12 --reason "debug build"'],
    "deployment create": [
        "rise d c                                   # the app in this folder",
        "rise d c secret-app -E staging -e LOG_LEVEL=debug",
        "rise d c secret-app --image registry.rise.dev/secret-app:v2 --no-follow",
        "rise d c --dry-run",
    ],
    "deploy": ["rise deploy"],
    "dev": [
        "rise dev                                   # everything in ./.rise-dev",
        "RISE_ADMIN_PASSWORD=change-me-please rise dev --port 8000",
    ],
    "install": [
        "rise install --export --values rise-values.toml > rise.yaml",
        "rise install --apply --values rise-values.toml",
        "rise install --export --format compose > compose.yaml",
    ],
    "deployment list": ["rise d ls secret-app"],
    "deployment show": ["rise d s secret-app 20261202-153109-627b --follow"],
    "deployment stop": ["rise d stop secret-app"],
    "deployment rollback": [
        "rise d rollback secret-app                 # to the one before the current",
        "rise d rollback secret-app 20261202-150211-9c1e",
    ],
    "team create": ["rise t c devops --member niklas --member anna"],
    "team list": ["rise t ls"],
    "team show": ["rise t s devops -o yaml"],
    "team update": [
        "rise t update devops --add-member lea --remove-member anna",
        "rise t update devops --add-owner niklas",
    ],
    "team delete": ["rise t rm devops --yes"],
    "service-account create": [
        "rise sa create shop deploy --issuer https://token.actions.githubusercontent.com "
        "--claim repository=acme/shop --claim ref=refs/heads/main",
        "rise sa create shop gitlab --issuer https://gitlab.com "
        "--claim project_path=acme/shop --claim 'ref=release-*'",
    ],
    "service-account list": ["rise sa ls shop", "rise sa ls shop -o json"],
    "service-account delete": ["rise sa rm shop deploy --yes"],
    "env set": [
        "rise env set secret-app LOG_LEVEL debug",
        "rise env set secret-app DATABASE_URL --secret       # asks, input hidden",
        'printf %s "$DB_URL" | rise env set secret-app DATABASE_URL --secret',
    ],
    "env get": [
        "rise env get secret-app LOG_LEVEL",
        "rise env get secret-app DATABASE_URL --reveal",
    ],
    "env list": ["rise env ls secret-app", "rise env ls secret-app -o json"],
    "env unset": ["rise env unset secret-app LOG_LEVEL"],
    "env import": [
        "rise env import secret-app .env",
        "rise env import secret-app prod.env --secret DATABASE_URL --replace",
    ],
    "env export": [
        "rise env export secret-app > .env            # secrets left out, as comments",
        "rise env export secret-app --reveal -f .env  # secrets included, file mode 0600",
    ],
    "profile add": [
        "rise profile add staging https://staging.rise.example.com",
        "rise profile add corp https://rise.corp.internal --ca-bundle corp-ca.pem --use",
    ],
    "profile use": ["rise profile use staging"],
    "profile list": ["rise profile ls"],
    "profile delete": ["rise profile rm staging"],
    "completion": ['eval "$(rise completion bash)"'],
    "state init": ["rise state init ./state.git --from examples/state"],
    "state validate": ["rise state validate ./state.git"],
    "render": ["rise render my-first-app --state ./state.git"],
    "diff": [
        "rise diff secret-app                       # what deploying this folder would change",
        "rise diff --state ./state.git --from main~1 --to main",
    ],
    "server": ["rise server --config server.toml"],
    "build": ["rise build examples/hello"],
    "reconcile": [
        "rise reconcile --state state.git --runtime kubernetes --kubeconfig kubeconfig --once"
    ],
}

_INTRO = """\
# The `rise` command line

<!-- Generated by `python3 -m cli.docs > docs/cli.md` from the commands themselves; edit the
commands (or the examples in cli/docs.py), not this file. -->

Short names: {aliases}; `rise deploy` is `rise d c`.
Names of projects and teams, never ids, go on the command line.

## Connecting: profiles, environment, config

`rise login URL` keeps the login in a *profile* in `$XDG_CONFIG_HOME/rise/config.toml`
(default `~/.config/rise/config.toml`, mode 0600): the server URL, its TLS settings (a CA
bundle for a private CA; plain http is refused for hosts other than loopback unless
`--allow-http`) and the tokens, refreshed silently and never printed. Several servers sit side
by side like kubectl contexts (`rise profile add|use|ls|rm`).

What a command talks to is chosen with the precedence *flag > environment > file*:

| setting | flag | environment |
| --- | --- | --- |
| profile | `--profile NAME` | `RISE_PROFILE` |
| server | `--url URL` | `RISE_URL` |
| token (CI; nothing is stored) | — | `RISE_TOKEN` |

When the server runs another minor version than the CLI, a warning says so once per server
version (checked at login and when the token is refreshed).

## Output

Every `list` and `show` takes `-o table|json|yaml`. `json` and `yaml` print the API's own
model (see [api.md](api.md)), stable for scripts; tables are for people. Colour only on a
terminal and never with `NO_COLOR`. Errors go to stderr with a hint of what to do next.

## Exit codes

{exit_codes}

## Shell completion

`rise completion bash|zsh|fish` prints the script; project and team names complete from the
server of the current profile.

## Commands
"""


def generate(root: click.Group) -> str:
    """The whole page for the command tree under ``root``."""
    context = click.Context(root, info_name="rise")
    parts = [_intro()]
    for path, command, ctx in walk(root, context):
        parts.append(_section(path, command, ctx))
    return "\n".join(parts).rstrip() + "\n"


def walk(
    command: click.Command, ctx: click.Context, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command, click.Context]]:
    """Every command below ``command``, depth first in name order, with its context."""
    if path:
        yield path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                yield from walk(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name))


def missing_examples(root: click.Group) -> list[str]:
    """Commands (not groups) that have no example in :data:`EXAMPLES`."""
    context = click.Context(root, info_name="rise")
    return [
        " ".join(path)
        for path, command, _ in walk(root, context)
        if not isinstance(command, click.Group) and " ".join(path) not in EXAMPLES
    ]


def _intro() -> str:
    aliases = ", ".join(f"`{short}` = `{name}`" for short, name in ALIASES.items())
    table_start = (EXIT_CODES_DOC or "").index("| code")
    return _INTRO.format(aliases=aliases, exit_codes=EXIT_CODES_DOC[table_start:].strip())


def _section(path: tuple[str, ...], command: click.Command, ctx: click.Context) -> str:
    level = "#" * min(len(path) + 2, 4)
    lines = [f"{level} `rise {' '.join(path)}`", ""]
    help_text = _help(command)
    if help_text:
        lines += [help_text, ""]
    lines += ["```", command.get_usage(ctx).removeprefix("Usage: "), "```", ""]
    options = [
        record
        for param in command.get_params(ctx)
        if param.name != "help" and (record := param.get_help_record(ctx)) is not None
    ]
    if options:
        lines += ["| option | |", "| --- | --- |"]
        lines += [f"| `{flags}` | {_cell(text)} |" for flags, text in options]
        lines.append("")
    examples = EXAMPLES.get(" ".join(path))
    if examples:
        lines += ["```", *(f"$ {example}" for example in examples), "```", ""]
    return "\n".join(lines)


def _help(command: click.Command) -> str:
    text = inspect.cleandoc(command.help or "")
    # click's \b marks a paragraph not to rewrap: a code block in markdown.
    lines: list[str] = []
    in_block = False
    for line in [*text.splitlines(), ""]:
        if line.strip() == "\b":
            lines.append("```")
            in_block = True
        elif in_block and not line.strip():
            lines += ["```", ""]
            in_block = False
        else:
            lines.append(line)
    return "\n".join(lines).strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    from cli.main import cli

    click.echo(generate(cli), nl=False)


if __name__ == "__main__":
    main()
