"""The ``rise install`` command: parse, render, then print or apply (docs/install.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.errors import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, CliError

if TYPE_CHECKING:
    from schemas.install import InstallValues


@click.command()
@click.option("--export", "mode", flag_value="export", help="Print the manifests.")
@click.option(
    "--apply",
    "mode",
    flag_value="apply",
    help="Apply them (server-side apply) and create the keys Secret once.",
)
@click.option(
    "--values",
    "values_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Values file (TOML; schemas/json/install-values.schema.json). [default: defaults]",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["kubernetes", "compose"]),
    default="kubernetes",
    show_default=True,
    help="Kubernetes manifests, or a compose.yaml for a single host (--export only).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    envvar="KUBECONFIG",
    help="Cluster to apply to (--apply). [default: ~/.kube/config, or in-cluster]",
)
@click.option("--context", "kube_context", help="kubeconfig context (--apply).")
def install(
    mode: str | None,
    values_path: Path | None,
    output_format: str,
    kubeconfig: str | None,
    kube_context: str | None,
) -> None:
    """Run rise on a Kubernetes cluster: print (--export) or apply (--apply) its manifests.

    Bad values are reported with their file and key, and nothing is printed or applied.
    The keys Secret (secrets key, signing keys, first admin password) is created by --apply
    once and never printed; back it up (docs/install.md).
    """
    from cli.install.manifests import load_values, render_compose, render_kubernetes
    from schemas import SchemaError

    if mode is None:
        raise click.UsageError("say what to do: --export (print) or --apply (apply to a cluster)")
    if mode == "apply" and output_format == "compose":
        raise click.UsageError("--format compose is for --export; start it with docker compose")
    try:
        values = load_values(values_path)
        if output_format == "compose":
            click.echo(render_compose(values))
            return
        objects = render_kubernetes(values)
    except SchemaError as exc:
        raise CliError(
            "the install values are invalid; nothing was printed or applied",
            problems=[str(p) for p in exc.problems],
            exit_code=EXIT_USAGE,
        ) from None
    if mode == "export":
        from reconciler.yaml_text import dump_yaml

        click.echo(dump_yaml(objects, literal_blocks=True), nl=False)
        return
    _apply(values, objects, kubeconfig, kube_context)


def _apply(
    values: InstallValues,
    objects: list[dict[str, Any]],
    kubeconfig: str | None,
    context: str | None,
) -> None:
    from cli.install.apply import apply_install, missing_secrets
    from cli.install.manifests import keys_secret_name
    from reconciler.runtimes.kubeapi import KubeApi, KubeError

    try:
        api = KubeApi.from_kubeconfig(kubeconfig, context=context)
        missing = missing_secrets(api, values)
        if missing:
            raise CliError(
                "the install needs what the cluster lacks; nothing was applied",
                problems=missing,
                exit_code=EXIT_USAGE,
            )
        report = apply_install(
            api, values, objects, on_step=lambda verb, what: click.echo(f"{verb:<9} {what}")
        )
    except KubeError as exc:
        status = f"HTTP {exc.status}: " if exc.status else ""
        raise CliError(
            f"cannot apply the install: {status}{exc.message}",
            hint="objects listed above as applied are in place; fix the cause and run "
            "rise install --apply again (it applies only what is missing or changed)",
            exit_code=EXIT_UNAVAILABLE if exc.transient else EXIT_FAILED,
        ) from None
    click.echo(
        f"{len(report.applied)} applied, {len(report.unchanged)} unchanged"
        + (", keys created" if report.keys_created else "")
    )
    if report.keys_created:
        secret = keys_secret_name(values)
        click.echo(
            f"The keys are in Secret {values.namespace}/{secret}: back it up, it is never "
            f"printed. First admin password: kubectl -n {values.namespace} get secret "
            f"{secret} -o jsonpath='{{.data.admin-password}}' | base64 -d"
        )
