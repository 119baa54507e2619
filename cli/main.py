"""Entry point of the ``rise`` command."""

from __future__ import annotations

import sys

import click

from cli._group import LazyGroup

# name -> ("module:attribute", help). Each command group lives in its own module.
COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("cli.auth:login", "Log in to a rise server."),
    "logout": ("cli.auth:logout", "Forget the login of the current profile."),
    "whoami": ("cli.auth:whoami", "Show who you are logged in as."),
    "project": ("cli.projects:project", "Create and manage projects (alias: p)."),
    "review": ("cli.reviews:review", "List, show, approve and reject deployments under review."),
    "state": ("cli.state:state", "Create and validate state repositories."),
    "render": ("cli.render:render", "Print the Kubernetes manifests of a project."),
    "diff": ("cli.diff:diff", "Show what a deploy, or a commit, would change."),
    "server": ("cli.server:server", "Run the rise server (API, auth, webhooks, reconciler)."),
    "build": ("cli.images.command:build", "Build an app's container image without deploying."),
    "reconcile": ("cli.reconcile:reconcile", "Reconcile a state repository against a runtime."),
    "team": ("cli.teams:team", "Create and manage teams (alias: t)."),
    "service-account": (
        "cli.service_accounts:service_account",
        "Let CI pipelines deploy a project with their own tokens (alias: sa).",
    ),
    "env": ("cli.env:env", "Set and read a project's environment variables and secrets."),
    "profile": ("cli.profiles:profile", "Switch between rise servers (like kubectl contexts)."),
    "completion": ("cli.completion:completion", "Print the shell completion script."),
    "deployment": ("cli.deployments:deployment", "Deploy apps and manage deployments (alias: d)."),
    "deploy": ("cli.deployments:create", "Build, push and deploy the app here (= rise d c)."),
    "dev": ("cli.dev:dev", "Run rise on this machine: server, containers, registry."),
    "install": ("cli.install:install", "Run rise on a Kubernetes cluster (or one host)."),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="rise-deploy", prog_name="rise")
@click.option("--url", envvar="RISE_URL", help="The rise server (overrides the profile's).")
@click.option("--profile", envvar="RISE_PROFILE", help="Which saved login to use.")
@click.pass_context
def cli(ctx: click.Context, url: str | None, profile: str | None) -> None:
    """rise: deploy container apps to Kubernetes the GitOps way.

    Exit codes: 0 ok, 1 failed, 2 usage or bad input, 3 not logged in or not allowed,
    4 not found, 5 conflict, 6 server unavailable, 130 interrupted.
    """
    from cli.session import Session

    ctx.obj = Session(url=url, profile=profile)


def main() -> None:
    # Not click's standalone mode: it turns Ctrl-C into "Aborted!" with exit 1, and scripts
    # must be able to tell an interrupt (130) from a failure.
    try:
        code = cli.main(prog_name="rise", standalone_mode=False)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("Interrupted; nothing more was changed.", err=True)
            sys.exit(130)
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
