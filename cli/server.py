"""``rise server``: run the API, auth, webhooks and the reconciler in one process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def log_level_option(default: str) -> Callable[[F], F]:
    """``--log-level``, shared by the commands that run the server."""
    return click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default=default,
        show_default=True,
    )


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="RISE_CONFIG",
    help="Server configuration (TOML); RISE_* variables and these flags override it.",
)
@click.option("--data-dir", help="Where the state repo, keys and users live (./rise-data).")
@click.option("--host", help="Address to listen on (127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (8000).")
@click.option("--public-url", help="The URL clients reach this server at.")
@click.option(
    "--runtime",
    type=click.Choice(["kubernetes", "docker", "rendered"]),
    help="Where the reconciler applies apps (rendered).",
)
@click.option("--registry-url", help="The registry apps are pushed to (registry.rise.dev).")
@click.option(
    "--registry-service",
    help="The service name the registry's token auth uses (rise-registry).",
)
@log_level_option("info")
def server(
    config_file: Path | None,
    data_dir: str | None,
    host: str | None,
    port: int | None,
    public_url: str | None,
    runtime: str | None,
    registry_url: str | None,
    registry_service: str | None,
    log_level: str,
) -> None:
    """Run the rise server (API, auth, webhooks, reconciler).

    With no configuration it keeps a local bare state repository, signing keys and local
    users in the data dir; the first admin ('admin') gets RISE_ADMIN_PASSWORD, or a generated
    password written to DATA_DIR/admin-password. SIGTERM drains requests and the reconcile in
    flight, then exits 0.
    """
    import logging

    import uvicorn

    from reconciler.server.app import SHUTDOWN_TIMEOUT, create_app
    from reconciler.server.config import env_warnings, load_config
    from reconciler.server.context import StartupError, build_context
    from reconciler.server.logs import configure_logging
    from schemas import SchemaError

    configure_logging(log_level)
    flags = {
        "data_dir": data_dir,
        "host": host,
        "port": port,
        "public_url": public_url,
        "runtime.kind": runtime,
        "registry.url": registry_url,
        "registry.service": registry_service,
    }
    try:
        config = load_config(config_file, os.environ, flags)
    except SchemaError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException("the server configuration is invalid; nothing started") from None
    for warning in env_warnings(os.environ):
        logging.getLogger("rise.server").warning(warning)
    if config.runtime.kind == "docker":
        _check_engine(config.docker.host or os.environ.get("DOCKER_HOST"))
    try:
        ctx = build_context(config)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn_config = uvicorn.Config(
        create_app(ctx),
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT),
    )
    # uvicorn drains on SIGTERM, then re-raises the signal through the handler that was
    # installed before it started; this one makes a drained shutdown exit 0, not 143.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.Server(uvicorn_config).run()


def _check_engine(host: str | None) -> None:
    """The docker runtime needs an engine that answers: say so before anything is created."""
    from reconciler.runtimes.docker import DEFAULT_HOST
    from reconciler.runtimes.engine import Engine, EngineError

    try:
        Engine(host or DEFAULT_HOST, timeout=10).ping()
    except EngineError as exc:
        raise click.ClickException(
            f"--runtime docker needs a Docker API: {exc}. Start Docker, or run "
            "'podman system service --time=0 unix:///tmp/podman.sock' and set "
            "DOCKER_HOST=unix:///tmp/podman.sock (or [docker] host); 'rise dev' does all "
            "of this for you. Nothing was started."
        ) from None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
