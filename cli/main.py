"""Entry point of the ``rise`` command."""

from __future__ import annotations

import sys

import click

from cli._group import LazyGroup

# name -> ("module:attribute", help). Each command group lives in its own module.
COMMANDS: dict[str, tuple[str, str]] = {
    "state": ("cli.state:state", "Create and validate state repositories."),
    "render": ("cli.render:render", "Print the Kubernetes manifests of a project."),
    "diff": ("cli.diff:diff", "Show what would change between two states."),
    "server": ("cli.server:server", "Run the rise server (API, auth, webhooks, reconciler)."),
    "build": ("cli.build.command:build", "Build an app's container image without deploying."),
    "reconcile": ("cli.reconcile:reconcile", "Reconcile a state repository against a runtime."),
    "dev": ("cli.dev:dev", "Run rise on this machine: server, containers, registry."),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="rise-deploy", prog_name="rise")
def cli() -> None:
    """rise: deploy container apps to Kubernetes the GitOps way."""


def main() -> None:
    try:
        cli(prog_name="rise")
    except KeyboardInterrupt:
        click.echo("\nInterrupted; nothing more was changed.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
