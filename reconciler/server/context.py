"""Everything a running server depends on, built once from its configuration.

The data dir holds what must never go to git::

    DATA_DIR/state.git        the local bare state repository (unless [state] path/url)
    DATA_DIR/state-cache.git  the clone of a remote state repository ([state] url)
    DATA_DIR/keys/            JWT signing keys (0600)
    DATA_DIR/registry/        the registry token CA and signing key (0600)
    DATA_DIR/secrets.key      AES-256 key of secret env values (0600)
    DATA_DIR/users.json       local users and scrypt hashes (0600)
    DATA_DIR/admin-password   the generated first admin password, when none was given
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from joserfc.errors import JoseError

from reconciler.ids import DeploymentIds
from reconciler.registry import CredentialsProvider, TokenIssuer, provider_from_config
from reconciler.registry.providers import ProviderError
from reconciler.runtimes.routes import Routes
from reconciler.secrets import SecretBox
from reconciler.server.auth import Authenticator
from reconciler.server.metrics import Metrics
from reconciler.server.store import Store
from reconciler.server.throttle import PasswordGate, RateLimiter
from reconciler.server.tokens import TokenService
from reconciler.server.trusted_issuers import TrustedIssuers
from reconciler.server.users import UserError, UserStore
from reconciler.state import Remote, StateError, StateRepo
from reconciler.status import Controller
from schemas import ServerConfig
from schemas.api import MIN_PASSWORD_LENGTH

log = logging.getLogger("rise.server")

Clock = Callable[[], datetime]
T = TypeVar("T")
ADMIN_PASSWORD_VARIABLE = "RISE_ADMIN_PASSWORD"
WEBHOOK_SECRET_VARIABLE = "RISE_WEBHOOK_SECRET"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StartupError(RuntimeError):
    """The server cannot start as configured; the message says what to change."""


@dataclass
class ServerContext:
    config: ServerConfig
    store: Store
    users: UserStore
    tokens: TokenService
    authenticator: Authenticator
    secrets: SecretBox
    controller: Controller
    metrics: Metrics
    ids: DeploymentIds
    clock: Clock
    webhook_secret: str | None
    registry_issuer: TokenIssuer
    registry: CredentialsProvider
    routes: Routes | None = None
    """Where the proxy sends each project's traffic (the ``docker`` runtime only)."""
    forge_token: str | None = None
    """The ``[forge]`` API token (from the variable ``token_env`` names)."""
    oidc_secrets: Mapping[str, str] = field(default_factory=dict)
    """Client secret of each ``[[auth.oidc]]`` provider that has one, by provider name."""

    def app_url(self, project: str) -> str:
        return self.config.app_url_template.format(project=project)

    def now(self) -> datetime:
        """The time written into files: UTC, whole seconds (as people write it in TOML)."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def signal(self, reason: str, projects: set[str] | None = None) -> None:
        """Ask the reconciler for a reconcile soon (counted on /metrics)."""
        self.metrics.count_signal()
        self.controller.signal(reason, projects)


def build_context(
    config: ServerConfig,
    environ: Mapping[str, str] | None = None,
    *,
    controller: Controller | None = None,
    clock: Clock = _utcnow,
) -> ServerContext:
    """Open (or create) everything under the data dir; ``controller`` overrides the loop."""
    env = os.environ if environ is None else environ
    data = Path(config.data_dir)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_temporary_files(data)
    metrics = Metrics()
    repo = open_state_repo(config, env)
    local = config.auth.local
    users = _loaded(
        data / "users.json",
        lambda: UserStore(
            data / "users.json",
            lockout_after=local.lockout_after,
            lockout_seconds=local.lockout_seconds,
            clock=clock,
        ),
    )
    if local.enabled:
        bootstrap_admin(users, local.admin_user, env.get(ADMIN_PASSWORD_VARIABLE), data)
    tokens = _loaded(
        data / "keys",
        lambda: TokenService.from_directory(
            data / "keys",
            issuer=config.public_url or "rise",
            access_ttl=config.auth.access_token_ttl,
            refresh_ttl=config.auth.refresh_token_ttl,
            clock=clock,
        ),
    )
    secrets_box = open_secrets(config)
    registry_issuer = _loaded(
        data / "registry", lambda: TokenIssuer.from_config(config.registry, data)
    )
    registry = provider_from_config(config.registry, registry_issuer)
    routes = Routes() if config.runtime.kind == "docker" else None
    if controller is None:
        controller = build_controller(
            config, repo, metrics, secrets_box, routes=routes, pull_auth=_puller(registry)
        )
    store = Store(repo, metrics)
    trusted = TrustedIssuers(config.auth.trusted_issuers, store.snapshot)
    return ServerContext(
        config=config,
        store=store,
        users=users,
        tokens=tokens,
        authenticator=Authenticator(
            tokens,
            users,
            config.auth.admins,
            PasswordGate(
                RateLimiter(local.login_per_second, local.login_burst),
                concurrency=local.hashing_concurrency,
            ),
            trusted,
            [provider.name for provider in config.auth.oidc],
        ),
        secrets=secrets_box,
        controller=controller,
        metrics=metrics,
        ids=DeploymentIds(clock),
        clock=clock,
        webhook_secret=env.get(config.webhooks.secret_env or WEBHOOK_SECRET_VARIABLE) or None,
        registry_issuer=registry_issuer,
        registry=registry,
        routes=routes,
        forge_token=env.get(config.forge.token_env) if config.forge else None,
        oidc_secrets=_oidc_secrets(config, env),
    )


def _oidc_secrets(config: ServerConfig, environ: Mapping[str, str]) -> dict[str, str]:
    secrets_by_name = {}
    for provider in config.auth.oidc:
        if provider.client_secret_env is None:
            continue
        secret = environ.get(provider.client_secret_env)
        if not secret:
            raise StartupError(
                f"[[auth.oidc]] {provider.name!r}: client_secret_env names "
                f"{provider.client_secret_env}, which is not set"
            )
        secrets_by_name[provider.name] = secret
    return secrets_by_name


def _puller(registry: CredentialsProvider) -> Callable[[str, str], dict[str, str] | None]:
    """Pull credentials for images in the platform registry, minted for each pull."""

    def pull_auth(project: str, image: str) -> dict[str, str] | None:
        try:
            found = registry.credentials(project, "rise-reconciler", {"pull"})
        except ProviderError as exc:  # the pull then fails and its error says why
            log.warning("no pull credentials for %s: %s", project, exc)
            return None
        if not image.startswith(f"{found.registry}/") or not found.username:
            return None
        return {"username": found.username, "password": found.password or ""}

    return pull_auth


def open_state_repo(config: ServerConfig, environ: Mapping[str, str]) -> StateRepo:
    """The configured state repo: a remote's clone, an existing path, or a new bare repo."""
    data = Path(config.data_dir)
    state = config.state
    try:
        if state.url:
            password = environ.get(state.password_env) if state.password_env else None
            if state.password_env and password is None:
                raise StartupError(
                    f"[state] password_env names {state.password_env}, which is not set"
                )
            remote = Remote(state.url, state.username, password)
            return StateRepo.clone(remote, data / "state-cache.git", state.branch)
        path = Path(state.path) if state.path else data / "state.git"
        if not path.exists():
            log.info("creating the state repository", extra={"path": str(path)})
            return StateRepo.init(path, branch=state.branch)
        repo = StateRepo(path, branch=state.branch)
        for leftover in repo.clear_crash_leftovers():
            log.warning("removed %s, left in the state repository by a crash", leftover)
        return repo
    except StateError as exc:
        raise StartupError(f"cannot open the state repository: {exc}") from None


def open_secrets(config: ServerConfig) -> SecretBox:
    """The key of secret env values: the configured file, or DATA_DIR/secrets.key (created)."""
    if config.secrets_key_file is None:
        path = Path(config.data_dir) / "secrets.key"
        return _loaded(path, lambda: SecretBox.from_file(path, create=True))
    try:
        return SecretBox.from_file(config.secrets_key_file)
    except (OSError, ValueError) as exc:
        raise StartupError(
            f"secrets_key_file {config.secrets_key_file}: {exc}; it must hold the base64 of a "
            "32-byte key (remove the setting to have one created in the data dir)"
        ) from None


def _loaded(path: Path, load: Callable[[], T]) -> T:
    """``load()``, or a StartupError naming ``path`` when what a crash left there is unusable
    (an empty or truncated key file of an interrupted first start, say)."""
    try:
        return load()
    except (ValueError, OSError, UserError, JoseError) as exc:
        empty = [str(p) for p in _files(path) if p.stat().st_size == 0]
        where = ", ".join(empty) if empty else str(path)
        raise StartupError(
            f"cannot load {where}: {exc or type(exc).__name__}"
            f"{' (the file is empty)' if empty else ''}; a crash during the first start can "
            "leave it empty or truncated: restore it from a backup, or remove it to have a new "
            "one created (what it signed or encrypted then stops working)"
        ) from None


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path] if path.is_file() else []


def _remove_temporary_files(data: Path) -> None:
    """Half-written files of a killed server: each file is written beside its target, then
    renamed over it, so a leftover temporary file is never the only copy."""
    for leftover in [*data.glob(".users.json.*"), *data.glob("keys/.jwt-*.tmp")]:
        leftover.unlink(missing_ok=True)
        log.warning("removed %s, left by a crash", leftover)


def bootstrap_admin(users: UserStore, admin: str, password: str | None, data: Path) -> None:
    """Create the first admin from ``RISE_ADMIN_PASSWORD``, or a generated password.

    Only the first start creates it; later starts leave the user store alone.
    """
    if users.get(admin) is not None:
        if password:
            log.info("admin user exists; %s is used only to create it", ADMIN_PASSWORD_VARIABLE)
        return
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise StartupError(
            f"{ADMIN_PASSWORD_VARIABLE} must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    if password is None:
        if not users.is_empty():
            return
        password = secrets.token_urlsafe(18)
        target = data / "admin-password"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        log.warning(
            "created admin user %r with a generated password; read it from %s",
            admin,
            target,
        )
    users.create(admin, password, is_admin=True)


def build_controller(
    config: ServerConfig,
    repo: StateRepo,
    metrics: Metrics | None = None,
    secrets: SecretBox | None = None,
    *,
    routes: Routes | None = None,
    pull_auth: Callable[[str, str], dict[str, str] | None] | None = None,
) -> Controller:
    """The reconcile loop for ``config.runtime`` (``reconciler/loop.py``), running in this
    process; it reports each finished reconcile to ``metrics`` and decrypts with ``secrets``.
    """
    from reconciler.loop import DockerSettings
    from reconciler.loop import build_controller as build_loop
    from reconciler.render import RenderError

    try:
        return build_loop(
            config,
            repo,
            secrets,
            metrics,
            docker=DockerSettings(routes=routes, pull_auth=pull_auth),
        )
    except RenderError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        raise StartupError(
            f"the reconciler cannot render with this configuration: {problems}"
        ) from None
    except ValueError as exc:
        raise StartupError(f"the reconciler cannot start: {exc}") from None
