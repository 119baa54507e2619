"""``rise dev``: the whole platform on one machine, in one command (SPEC §10b).

In a data dir (``.rise-dev/``): the state repository, keys and the first admin (as
``rise server`` makes them), the server with the reconciler on the ``docker`` runtime when a
container engine answers (else ``rendered``, saying why), apps at
``http://<project>.localhost:<port>``, and a local registry wired to rise's token endpoint
when ``docker-registry`` is installed. Ctrl-C stops everything it started, app containers
included; the next start reuses the data dir and starts them again.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from cli.devstack import (
    Child,
    EngineChoice,
    find_engine,
    remove_run_dir,
    start_registry,
    stop_leftovers,
    write_private,
)
from cli.server import log_level_option

_SETTINGS = "dev.json"
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@click.command()
@click.option(
    "--data-dir",
    default=".rise-dev",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where everything lives; a second start reuses it.",
)
@click.option("--port", type=int, help="Port of the server and the apps (8000).")
@click.option("--registry-port", type=int, help="Port of the local registry (free one).")
@click.option(
    "--apps-domain",
    default="localhost",
    show_default=True,
    help="Apps answer at http://<project>.<domain>:<port> (and always at <project>.localhost).",
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "docker", "rendered"]),
    default="auto",
    show_default=True,
    help="auto: docker when a container engine answers, else rendered.",
)
@log_level_option("warning")
def dev(
    data_dir: Path,
    port: int | None,
    registry_port: int | None,
    apps_domain: str,
    runtime: str,
    log_level: str,
) -> None:
    """Run rise on this machine: server, reconciler, container engine and registry.

    The first admin is 'admin' with the password in RISE_ADMIN_PASSWORD, or a generated one
    printed once (and kept in DATA_DIR/admin-password).
    """
    from reconciler.server.logs import configure_logging

    if not _DOMAIN.match(apps_domain):
        raise click.BadParameter(
            f"{apps_domain!r} is not a domain name: give lower-case DNS labels joined by dots, "
            "such as 'localhost' or 'apps.example.test' (no scheme, port or path)",
            param_hint="--apps-domain",
        )
    configure_logging(log_level)
    data = data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    for leftover in stop_leftovers(data):
        click.echo(f"stopped {leftover} left by an earlier rise dev", err=True)
    settings = _settings(data, port, registry_port)
    _check_free(settings["port"], "--port")
    if _registry_installed():
        _check_free(settings["registry_port"], "--registry-port")
    children: list[Child] = []
    engine_hosts: list[str] = []
    try:
        _run(data, settings, runtime, apps_domain, children, engine_hosts)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the server was up: stop what started all the same
    finally:
        for host in engine_hosts:
            _stop_apps(host)
        for child in reversed(children):
            child.stop()
        remove_run_dir(data)  # sockets; podman's runroot
    click.echo("rise dev stopped: the server, its registry and engine, and the apps.", err=True)


def _run(
    data: Path,
    settings: dict[str, int],
    runtime: str,
    apps_domain: str,
    children: list[Child],
    engine_hosts: list[str],
) -> None:
    """Start everything; what was started is appended to ``children`` and ``engine_hosts`` as
    it starts, so the caller stops it even when a later step fails."""
    import uvicorn

    from reconciler.server.app import SHUTDOWN_TIMEOUT, create_app
    from reconciler.server.context import ADMIN_PASSWORD_VARIABLE, StartupError, build_context

    port, registry_port = settings["port"], settings["registry_port"]
    has_registry = _registry_installed()
    registry_host = f"127.0.0.1:{registry_port}" if has_registry else None
    engine = EngineChoice(None, "--runtime rendered was asked for")
    if runtime != "rendered":
        engine = find_engine(data, os.environ, registry_host)
        if engine.child is not None:
            children.append(engine.child)
        if engine.host is not None:
            engine_hosts.append(engine.host)
        if engine.host is None and runtime == "docker":
            raise click.ClickException(f"no container engine answered: {engine.note}")
    config = _config(data, port, registry_host, engine.host, apps_domain)
    first_admin = not (data / "users.json").exists()
    environ = dict(os.environ)
    if first_admin and not environ.get(ADMIN_PASSWORD_VARIABLE):
        # Made here, not by the server, so the banner shows it (once) instead of a log line.
        environ[ADMIN_PASSWORD_VARIABLE] = secrets.token_urlsafe(18)
        write_private(data / "admin-password", environ[ADMIN_PASSWORD_VARIABLE])
    try:
        ctx = build_context(config, environ)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    if registry_host is not None:
        realm = f"http://127.0.0.1:{port}/api/v1/registry/token"
        registry = config.registry
        try:
            child = start_registry(data, registry_port, realm, registry.service, registry.issuer)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        if child is not None:
            children.append(child)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT),
        )
    )
    banner = _banner(data, config.app_url_template, registry_host, engine, first_admin)
    threading.Thread(target=_announce, args=(server, banner), daemon=True).start()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server.run()


def _settings(data: Path, port: int | None, registry_port: int | None) -> dict[str, int]:
    """Ports chosen at the first start, kept: images and deployments name the registry's."""
    path = data / _SETTINGS
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    settings = {
        "port": port or int(saved.get("port", 8000)),
        "registry_port": registry_port or int(saved.get("registry_port", 0)) or _free_port(),
    }
    path.write_text(json.dumps(settings))
    return settings


def _config(
    data: Path, port: int, registry_host: str | None, engine_host: str | None, domain: str
) -> Any:
    from reconciler.server.config import load_config
    from schemas import SchemaError

    flags: dict[str, Any] = {
        "data_dir": str(data),
        "host": "127.0.0.1",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "app_url_template": f"http://{{project}}.{domain}:{port}",
        "runtime.kind": "docker" if engine_host else "rendered",
        "runtime.rollout_poll_seconds": 0.25,
        "docker.host": engine_host,
        "registry.url": registry_host,
    }
    try:
        return load_config(None, os.environ, flags)
    except SchemaError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException("the configuration is invalid; nothing started") from None


def _banner(
    data: Path, apps_url: str, registry: str | None, engine: EngineChoice, first_admin: bool
) -> str:
    port = apps_url.rsplit(":", 1)[-1]
    url = f"http://127.0.0.1:{port}"
    password_file = data / "admin-password"
    if os.environ.get("RISE_ADMIN_PASSWORD") and first_admin:
        password = "the value of RISE_ADMIN_PASSWORD"
    elif first_admin and password_file.exists():
        password = f"{password_file.read_text().strip()}   (shown once; also in {password_file})"
    elif password_file.exists():
        password = f"in {password_file}"
    else:
        password = "as set at the first start"
    if engine.host is not None:
        apps = f"{apps_url.replace('{project}', '<project>')}  (docker runtime: {engine.note})"
    else:
        apps = f"not run here: the rendered runtime commits manifests ({engine.note})"
    lines = [
        f"rise is running at {url}",
        f"  apps:     {apps}",
        f"  registry: {registry} (pushes authorised by rise)"
        if registry
        else "  registry: none (install docker-registry for a local one)",
        *(
            [f"  build:    export DOCKER_HOST={engine.host}   (rise build uses rise dev's podman)"]
            if engine.child is not None
            else []
        ),
        f"  log in:   user admin, password {password}",
        f"            export RISE_URL={url}",
        f"  data:     {data}  (a second 'rise dev' reuses it)",
        "Press Ctrl-C to stop everything rise dev started.",
    ]
    return "\n".join(lines)


def _announce(server: Any, banner: str) -> None:
    """Print the banner once uvicorn listens (it runs in the main thread)."""
    import time

    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    click.echo(banner)


def _stop_apps(host: str) -> None:
    """Stop (not remove) the app containers: the next start finds and starts them again."""
    from reconciler.runtimes.containers import RISE_FILTER
    from reconciler.runtimes.engine import Engine, EngineError

    engine = Engine(host, timeout=30)
    try:
        for item in engine.containers(RISE_FILTER):
            if item.get("State") == "running":
                engine.stop(str(item["Id"]), grace=2)
    except EngineError as exc:
        click.echo(f"could not stop the app containers: {exc}", err=True)


def _registry_installed() -> bool:
    return shutil.which("docker-registry") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_free(port: int, flag: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise click.ClickException(
                f"port {port} is in use on 127.0.0.1; choose another with {flag} PORT"
            ) from None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
