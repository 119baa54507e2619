"""Docker/OCI registry tokens (the distribution "token authentication" specification).

A registry answers an unauthenticated request with a ``Bearer`` challenge naming rise's token
endpoint, the ``service`` and the ``scope`` it needs (``repository:team-a/web:push,pull``). The
client asks rise for a token; rise grants the intersection of what was asked and what the
caller may do, and signs a short-lived JWT the registry verifies through the ``x5c`` chain.

Push credentials handed to the CLI are JWTs of the same issuer with a different audience: a
registry refuses them as bearer tokens, and the token endpoint accepts them as the password of
HTTP Basic auth, granting at most the access they carry and never beyond their expiry.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from reconciler.registry.keys import SigningKeys
from schemas.names import name_problem
from schemas.server import RegistryConfig

ALGORITHM = "ES256"
PROJECT_ACTIONS = ("pull", "push")  # the order registries and clients expect
CREDENTIALS_AUDIENCE_PREFIX = "registry-credentials:"
_VERIFIED_CACHE_SIZE = 4096

_TYPE = re.compile(r"^[a-z0-9]+(\([a-z0-9]+\))?$")
_ACTION = re.compile(r"^([a-z]+|\*)$")
# distribution's reference grammar: optional host[:port], then lower-case path components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?"
_REPOSITORY = re.compile(rf"^{_HOST}{_COMPONENT}(?:/{_COMPONENT})*$")


class ScopeError(ValueError):
    """A ``scope`` parameter that is not ``type:name:action[,action]``."""


@dataclass(frozen=True)
class Access:
    """One entry of the token's ``access`` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    subject: str
    access: tuple[Access, ...]
    issued_at: int
    expires_at: int

    @property
    def expires_in(self) -> int:
        return self.expires_at - self.issued_at


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Parse ``scope`` query values (repeated, or space-separated in one value).

    Entries for the same resource are merged: ``repository:a:pull`` and ``repository:a:push``
    become one ``repository:a:pull,push``.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    for value in values:
        for scope in value.split():
            kind, name, actions = _split_scope(scope)
            known = merged.setdefault((kind, name), [])
            known.extend(a for a in actions if a not in known)
    return [Access(kind, name, tuple(actions)) for (kind, name), actions in merged.items()]


def _split_scope(scope: str) -> tuple[str, str, list[str]]:
    kind, _, rest = scope.partition(":")
    name, sep, actions = rest.rpartition(":")
    if not sep or not name or not _TYPE.match(kind):
        raise ScopeError(
            f"scope {scope!r} must look like 'repository:<name>:pull,push' (type:name:actions)"
        )
    if kind == "repository" and not _REPOSITORY.match(name):
        raise ScopeError(
            f"scope {scope!r}: {name!r} is not a repository name "
            "(lower-case path components such as 'team/app')"
        )
    parsed = [a for a in actions.split(",") if a]
    bad = [a for a in parsed if not _ACTION.match(a)]
    if bad:
        raise ScopeError(f"scope {scope!r}: {bad[0]!r} is not an action (pull, push, delete, *)")
    return kind, name, parsed


class TokenIssuer:
    """Signs registry tokens and push credentials for one registry ``service``."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        service: str = "rise-registry",
        issuer: str = "rise",
        ttl: int = 300,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
    ):
        self.keys = keys
        self.service = service
        self.issuer = issuer
        self.ttl = ttl
        self.prefix = prefix
        self._clock = clock
        self._key = ECKey.import_key(keys.private_key_pem)
        # Registries find the key through x5c; credentials come back to us and need none.
        self._registry_header = {"alg": ALGORITHM, "typ": "JWT", "x5c": keys.x5c}
        self._credential_header = {"alg": ALGORITHM, "typ": "JWT"}
        # A client asks for several tokens per push with the same credential: verify it once.
        self._verified: dict[str, IssuedToken] = {}

    @classmethod
    def from_config(cls, config: RegistryConfig, data_dir: str | Path) -> TokenIssuer:
        """The issuer ``[registry]`` describes, with keys in ``<data_dir>/registry``."""
        return cls(
            SigningKeys.load_or_create(Path(data_dir) / "registry"),
            service=config.service,
            issuer=config.issuer,
            ttl=config.token_ttl,
            prefix=config.prefix,
        )

    @property
    def credentials_audience(self) -> str:
        return CREDENTIALS_AUDIENCE_PREFIX + self.service

    def repository(self, project: str) -> str:
        """The registry repository that belongs to ``project``."""
        return f"{self.prefix}{project}"

    def project_of(self, repository: str) -> str | None:
        """The project owning ``repository``, or None when no project can own that name."""
        if not repository.startswith(self.prefix):
            return None
        project = repository[len(self.prefix) :]
        return None if name_problem(project) else project

    def grant(
        self, requested: Iterable[Access], allowed: Callable[[str], Iterable[str]]
    ) -> list[Access]:
        """What of ``requested`` to grant; ``allowed(project)`` says what the caller may do.

        Only the project's own repository, only pull and push: anything else (the catalog,
        other repositories, delete, ``*``) is silently left out, as the token spec asks.
        """
        granted = []
        for access in requested:
            project = self.project_of(access.name) if access.type == "repository" else None
            if project is None:
                continue
            permitted = set(allowed(project))
            actions = tuple(a for a in PROJECT_ACTIONS if a in access.actions and a in permitted)
            if actions:
                granted.append(Access(access.type, access.name, actions))
        return granted

    def access_token(
        self, subject: str, access: Iterable[Access], not_after: int | None = None
    ) -> IssuedToken:
        """A token the registry accepts, expiring after ``ttl`` (or ``not_after``, if sooner)."""
        return self._sign(self._registry_header, subject, tuple(access), self.service, not_after)

    def credential(self, subject: str, project: str, actions: Iterable[str]) -> IssuedToken:
        """A push/pull password for ``project``, only good at rise's token endpoint."""
        wanted = set(actions)
        access = Access(
            "repository",
            self.repository(project),
            tuple(a for a in PROJECT_ACTIONS if a in wanted),
        )
        return self._sign(
            self._credential_header, subject, (access,), self.credentials_audience, None
        )

    def read_credential(self, token: str) -> IssuedToken | None:
        """The verified content of a credential made by ``credential``, or None."""
        known = self._verified.get(token)
        if known is not None:
            return known if known.expires_at > self._clock() else None
        verified = self._verify_credential(token)
        if verified is not None:
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()  # bounded; expired entries go with it
            self._verified[token] = verified
        return verified

    def _verify_credential(self, token: str) -> IssuedToken | None:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(
                now=int(self._clock()),
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.credentials_audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
            claims = decoded.claims
            access = tuple(
                Access(item["type"], item["name"], tuple(item["actions"]))
                for item in claims.get("access", [])
            )
            return IssuedToken(token, claims["sub"], access, int(claims["iat"]), claims["exp"])
        except (JoseError, ValueError, KeyError, TypeError):
            return None

    def _sign(
        self,
        header: dict[str, Any],
        subject: str,
        access: tuple[Access, ...],
        audience: str,
        not_after: int | None,
    ) -> IssuedToken:
        now = int(self._clock())
        expires = now + self.ttl if not_after is None else min(now + self.ttl, not_after)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,  # a string: distribution 2.8 refuses a list
            "exp": expires,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": [a.claim() for a in access],
        }
        token = jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])
        return IssuedToken(token, subject, access, now, expires)
