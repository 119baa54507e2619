"""``rise reconcile``: run the reconciler against a state repository, for operators.

One line per pass: ``applied N, unchanged M, pruned K, failed F`` (objects applied, left
alone, pruned; projects failed), then a line per failing, deploying or noteworthy project.
``--once`` runs one full pass and exits 1 when a project failed (or another replica holds the
lease); without it the loop runs until Ctrl-C or SIGTERM, then finishes the projects in
flight. Render settings and runtime defaults come from the server config (``--config``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.render import config_option, echo_problems, load_secrets, open_state, secrets_key_option
from cli.render import state_option as _state_option

if TYPE_CHECKING:
    from reconciler.loop import PassReport, Reconciler
    from schemas import ServerConfig

_STOP_TIMEOUT = 30.0


@click.command()
@_state_option
@click.option("--once", is_flag=True, help="One full pass, then exit (1 when a project failed).")
@click.option(
    "--runtime",
    "runtime_kind",
    type=click.Choice(["kubernetes", "rendered"]),
    help="Where to reconcile to. [default: runtime.kind of the config, else rendered]",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster).",
)
@click.option("--branch", help="Branch the rendered runtime writes. [default: rendered]")
@secrets_key_option
@config_option
@click.option(
    "--interval",
    type=click.IntRange(min=5),
    help="Seconds between full resyncs. [default: runtime.resync_seconds, 300]",
)
@click.option("--workers", type=click.IntRange(1, 64), help="Projects worked on at once.")
@click.option(
    "--leader-elect/--no-leader-elect",
    default=None,
    help="kubernetes: write only while holding the Lease, so replicas do not fight. "
    "[default: kubernetes.leader_election, on]",
)
def reconcile(
    state_path: Path,
    once: bool,
    runtime_kind: str | None,
    kubeconfig: Path | None,
    branch: str | None,
    secrets_key: Path | None,
    config_path: Path | None,
    interval: int | None,
    workers: int | None,
    leader_elect: bool | None,
) -> None:
    """Reconcile the state repository at --state against a runtime.

    The kubernetes runtime applies every project's objects to a cluster (server-side apply,
    blue/green rollouts, pruning); it needs --secrets-key when a project has secret values.
    The rendered runtime commits the manifests to a branch of the state repository instead,
    for Argo CD or Flux (secrets are never written there).
    """
    from reconciler.loop import build_controller
    from reconciler.render import RenderError

    flags = {
        "runtime.kind": runtime_kind,
        "runtime.rendered_branch": branch,
        "runtime.resync_seconds": interval,
        "runtime.workers": workers,
        "kubernetes.kubeconfig": str(kubeconfig) if kubeconfig else None,
        "kubernetes.leader_election": leader_elect,
    }
    _log_what_passes_do_not_report()
    config = _load_config(config_path, flags)
    repo = open_state(state_path)
    secrets = load_secrets(secrets_key)
    try:
        controller = build_controller(config, repo, secrets, on_pass=_print)
    except RenderError as exc:
        echo_problems(exc.problems)
        raise click.ClickException("the server configuration is not valid") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        sys.exit(0 if _once(controller).ok else 1)
    _run_until_stopped(controller)


def _once(controller: Reconciler) -> PassReport:
    elector = controller.elector
    if elector is not None:
        elector.start()  # keeps the lease renewed through a long pass
    try:
        return controller.run_pass(full=True)
    finally:
        if elector is not None:
            elector.stop()  # and gives it back


def _load_config(path: Path | None, flags: dict[str, Any]) -> ServerConfig:
    from reconciler.server.config import load_config
    from schemas import SchemaError

    try:
        return load_config(path, os.environ, flags)
    except SchemaError as exc:
        echo_problems(exc.problems)
        raise click.ClickException("the server configuration is not valid") from None


class _ReportedByPasses(logging.Filter):
    """Drops the loop's log records that a pass report prints anyway (``_print``): a failed
    project's reason and a failed pass's error. Each failure is printed once; tracebacks of
    unexpected errors and everything else still reach stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            return True
        if getattr(record, "project", None):
            return False
        return not record.getMessage().startswith("reconcile pass ")


class _Stderr(logging.Handler):
    """Log lines to the command's stderr as it is when they are written."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _log_what_passes_do_not_report() -> None:
    root = logging.getLogger("rise")
    if any(isinstance(h, _Stderr) for h in root.handlers):
        return
    handler = _Stderr(logging.WARNING)
    handler.addFilter(_ReportedByPasses())
    root.addHandler(handler)
    root.propagate = False


def _print(report: PassReport) -> None:
    name = f"{'full' if report.full else 'incremental'} pass {report.number}"
    if report.skipped:
        click.echo(f"{name} skipped: {report.skipped}", err=True)
        return
    if report.error:
        click.echo(f"{name} failed: {report.error}", err=True)
        return
    at = f" at {report.commit[:12]}" if report.commit else ""
    click.echo(
        f"{report.summary()} ({name}, {report.projects} projects{at}, {report.seconds:.2f}s)"
    )
    for project, reason in sorted(report.failed.items()):
        click.echo(f"  {project}: failed: {reason}", err=True)
    for project, reason in sorted(report.deploying.items()):
        click.echo(f"  {project}: deploying: {reason}")
    for note in report.notes:
        click.echo(f"  {note}")


def _run_until_stopped(controller: Reconciler) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    controller.start()
    click.echo("reconciling; Ctrl-C or SIGTERM stops after the projects in flight", err=True)
    done.wait()
    click.echo("stopping...", err=True)
    controller.stop(_STOP_TIMEOUT)
