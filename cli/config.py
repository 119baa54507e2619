"""Where the CLI keeps its logins: named profiles in ``~/.config/rise/config.toml``.

Like kubectl contexts, a profile is one server: its URL, the tokens of the login there and its
TLS settings. The file is written atomically with mode 0600, since it holds refresh tokens.
What a command connects to is decided here once, with the precedence flag > environment >
file, so no command reads ``RISE_*`` variables by itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cli.errors import EXIT_USAGE, CliError
from cli.hosts import is_loopback

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Profile:
    """One server and the login kept for it."""

    name: str
    url: str | None = None
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    username: str | None = None
    ca_bundle: str | None = None
    allow_http: bool = False
    warned_version: str | None = None


@dataclass
class Config:
    """The whole config file: the profiles and which one is current."""

    path: Path
    current: str = DEFAULT_PROFILE
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        if not path.exists():
            return cls(path)
        import rtoml

        try:
            data = rtoml.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, rtoml.TomlParsingError) as exc:
            raise CliError(
                f"cannot read {path}: {exc}",
                hint=f"fix or remove {path}, then run 'rise login' again",
                exit_code=EXIT_USAGE,
            ) from None
        profiles = {
            name: _profile(path, name, values)
            for name, values in (data.get("profiles") or {}).items()
        }
        return cls(path, str(data.get("current") or DEFAULT_PROFILE), profiles)

    def profile(self, name: str | None = None) -> Profile:
        name = name or self.current
        return self.profiles.get(name) or Profile(name)

    def put(self, profile: Profile) -> None:
        """Add or replace ``profile`` and save; the first profile saved becomes current."""
        if self.current not in self.profiles:
            self.current = profile.name
        self.profiles[profile.name] = profile
        self.save()

    def remove(self, name: str) -> None:
        """Forget a profile and its login; the current one moves to the first left."""
        del self.profiles[name]
        if self.current == name:
            self.current = min(self.profiles, default=DEFAULT_PROFILE)
        self.save()

    def save(self) -> None:
        import rtoml

        data = {
            "current": self.current,
            "profiles": {
                name: {k: v for k, v in asdict(p).items() if k != "name" and v not in (None, False)}
                for name, p in sorted(self.profiles.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(rtoml.dumps(data))
        os.replace(temporary, self.path)


@dataclass(frozen=True)
class Connection:
    """What a command talks to: the server, the credentials, and where to keep new tokens."""

    profile: Profile
    url: str
    token: str | None = field(default=None, repr=False)
    token_from_env: bool = False
    verify: str | bool = True


def config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/rise/config.toml``, else ``~/.config/rise/config.toml``."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rise" / "config.toml"


def profile_name(flag: str | None, environ: Mapping[str, str], config: Config) -> str:
    return flag or environ.get("RISE_PROFILE") or config.current


def connect(
    config: Config,
    environ: Mapping[str, str],
    *,
    url: str | None = None,
    profile: str | None = None,
) -> Connection:
    """The connection for a command: flag > environment > the profile in the file."""
    chosen = config.profile(profile_name(profile, environ, config))
    server = url or environ.get("RISE_URL") or chosen.url
    if not server:
        raise CliError(
            "no rise server is configured",
            hint="run 'rise login URL' (e.g. rise login http://127.0.0.1:8000), or set RISE_URL",
            exit_code=EXIT_USAGE,
        )
    server = check_url(server, allow_http=chosen.allow_http)
    env_token = environ.get("RISE_TOKEN")
    # A stored login belongs to the profile's own server; never send it anywhere else.
    stored = chosen.access_token if _same_server(server, chosen.url) else None
    return Connection(
        profile=chosen,
        url=server,
        token=env_token or stored,
        token_from_env=bool(env_token),
        verify=chosen.ca_bundle or True,
    )


def check_url(url: str, *, allow_http: bool = False) -> str:
    """A server URL, normalised; plain http only on loopback unless asked for."""
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = f"https://{text}"
    parts = _split(text)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"{url!r} is not a server URL",
            hint="give one like https://rise.example.com or http://127.0.0.1:8000",
            exit_code=EXIT_USAGE,
        )
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise CliError(
            f"refusing plain http to {parts.hostname}: tokens would cross the network unencrypted",
            hint="use https, or pass --allow-http (rise login, rise profile add) if you mean it",
            exit_code=EXIT_USAGE,
        )
    return text


def _split(url: str) -> SplitResult | None:
    """``url`` split, or None when it is malformed (an unclosed IPv6 bracket, a bad port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed lazily: raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def _same_server(url: str, stored: str | None) -> bool:
    return stored is not None and url.rstrip("/") == stored.rstrip("/")


def _profile(path: Path, name: str, values: Any) -> Profile:
    if not isinstance(values, dict):
        raise CliError(
            f"{path}: [profiles.{name}] must be a table",
            hint=f"fix or remove {path}",
            exit_code=EXIT_USAGE,
        )
    known = set(Profile.__dataclass_fields__) - {"name"}
    return Profile(name=name, **{k: v for k, v in values.items() if k in known})
