"""The server's own JWTs: short-lived access tokens and longer refresh tokens (ES256).

Signing keys live in ``DATA_DIR/keys/`` (``jwt-<time>.pem``, mode 0600), created on first
start. The newest key signs; every key in the folder verifies, so a key is rotated by adding
a new file and removing the old one after the longest token lifetime. Public keys are served
at ``/.well-known/jwks.json``.

Every check is explicit: the header must name ``ES256`` and a kid we hold (``alg: none``, an
HMAC algorithm or an unknown kid is refused before any signature check), then ``iss``,
``aud``, ``exp``, ``nbf``, ``iat`` and ``sub``. Access and refresh tokens have different
audiences, so one can never be used as the other.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import ECKey
from joserfc.jwt import JWTClaimsRegistry

from reconciler.server.users import ProviderIdentity, User

ALGORITHM = "ES256"
ACCESS_AUDIENCE = "rise-api"
REFRESH_AUDIENCE = "rise-refresh"
APPS_AUDIENCE = "rise-apps"
"""The private apps' session cookie: valid for forward auth only, never for the API."""
LEEWAY_SECONDS = 30

Clock = Callable[[], datetime]
Kind = Literal["user", "service-account"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenError(ValueError):
    """Why a token was refused, in words a person can act on."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    kind: Kind
    expires_at: int
    password_version: int | None
    identity: ProviderIdentity | None = None
    """For a provider's user: who they are at the provider (claim ``idp``)."""


class TokenService:
    def __init__(
        self,
        keys: list[ECKey],
        *,
        issuer: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Clock = _utcnow,
    ):
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._keys = {_kid(key): key for key in keys}
        self._signer = keys[-1]
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock

    @classmethod
    def from_directory(cls, folder: str | Path, **options: Any) -> TokenService:
        """Load every ``jwt-*.pem`` of ``folder`` (oldest first), creating one if none."""
        directory = Path(folder)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = sorted(directory.glob("jwt-*.pem"))
        if not files:
            files = [_write_new_key(directory, options.get("clock", _utcnow)())]
        keys = [_import(path) for path in files]
        return cls(keys, **options)

    # -- issuing ---------------------------------------------------------------------------

    def issue(
        self,
        subject: str,
        kind: Kind = "user",
        password_version: int | None = None,
        identity: ProviderIdentity | None = None,
    ) -> TokenPair:
        # Both carry the password version, so a password change or removal revokes both.
        extra = self._user_claims(password_version, identity)
        access = self._sign(subject, kind, ACCESS_AUDIENCE, self.access_ttl, extra)
        refresh = self._sign(subject, kind, REFRESH_AUDIENCE, self.refresh_ttl, extra)
        return TokenPair(access, self.access_ttl, refresh, self.refresh_ttl)

    def for_user(self, user: User) -> TokenPair:
        """A user's token pair: their password version, and their provider identity."""
        return self.issue(user.username, "user", user.password_version, user.identity)

    def issue_apps(self, user: User, ttl: int) -> str:
        """The value of the apps' session cookie (audience ``rise-apps``)."""
        claims = self._user_claims(user.password_version, user.identity)
        return self._sign(user.username, "user", APPS_AUDIENCE, ttl, claims)

    @staticmethod
    def _user_claims(
        password_version: int | None, identity: ProviderIdentity | None
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {}
        if password_version is not None:
            claims["pwv"] = password_version
        if identity is not None:
            provider, issuer, subject = identity.provider, identity.issuer, identity.subject
            claims["idp"] = {"p": provider, "iss": issuer, "sub": subject}
        return claims

    def _sign(
        self, subject: str, kind: Kind, audience: str, ttl: int, extra: dict[str, Any]
    ) -> str:
        now = int(self._clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(12),
            "kind": kind,
            **extra,
        }
        header = {"alg": ALGORITHM, "kid": _kid(self._signer), "typ": "JWT"}
        return jwt.encode(header, claims, self._signer, algorithms=[ALGORITHM])

    # -- verifying -------------------------------------------------------------------------

    def verify_access(self, token: str) -> VerifiedToken:
        return self._verify(token, ACCESS_AUDIENCE)

    def verify_refresh(self, token: str) -> VerifiedToken:
        return self._verify(token, REFRESH_AUDIENCE)

    def verify_apps(self, token: str) -> VerifiedToken:
        return self._verify(token, APPS_AUDIENCE)

    def _verify(self, token: str, audience: str) -> VerifiedToken:
        key = self._key_for(token)
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise TokenError(f"token signature or encoding is invalid ({exc})") from None
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock().timestamp()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        claims = decoded.claims
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenError(_claim_problem(exc, claims, audience)) from None
        kind = claims.get("kind", "user")
        if kind not in ("user", "service-account") or not isinstance(claims["sub"], str):
            raise TokenError("token names no valid subject")
        pwv = claims.get("pwv")
        return VerifiedToken(
            claims["sub"],
            kind,
            int(claims["exp"]),
            int(pwv) if pwv is not None else None,
            _identity(claims.get("idp")),
        )

    def _key_for(self, token: str) -> ECKey:
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise TokenError(f"not a JWT ({exc})") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"token algorithm {header.get('alg')!r} is not accepted")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise TokenError("token was signed by a key this server does not know (kid)")
        return key

    # -- publishing ------------------------------------------------------------------------

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        keys = []
        for kid, key in self._keys.items():
            public = key.as_dict(private=False)
            keys.append({**public, "kid": kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": keys}


def _import(path: Path) -> ECKey:
    try:
        return ECKey.import_key(path.read_bytes())
    except (JoseError, ValueError) as exc:
        raise ValueError(f"{path} is not a PEM EC private key ({exc or 'empty'})") from None


def _kid(key: ECKey) -> str:
    return key.thumbprint()


def _claim_problem(exc: JoseError, claims: dict[str, Any], audience: str) -> str:
    """The refusal in words, decided by the error's type and claim, never by its text."""
    if isinstance(exc, ExpiredTokenError):
        return "token has expired; log in again (rise login)"
    claim = getattr(exc, "claim", None)
    if isinstance(exc, MissingClaimError):
        return f"token has no {claim!r} claim"
    if claim == "aud":
        kind = {REFRESH_AUDIENCE: "refresh", APPS_AUDIENCE: "apps session"}.get(audience, "access")
        return f"token is not a rise {kind} token (aud {claims.get('aud')!r})"
    if claim == "iss":
        return f"token was issued by {claims.get('iss')!r}, not by this server"
    return f"token claims are invalid ({exc})"


def _write_new_key(directory: Path, now: datetime) -> Path:
    key = ECKey.generate_key("P-256")
    path = directory / f"jwt-{now.strftime('%Y%m%dT%H%M%S')}.pem"
    # Written beside, then renamed: a crash never leaves a truncated key under the real name.
    temp = directory / f".{path.stem}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.as_pem(private=True))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    return path


def _identity(claim: object) -> ProviderIdentity | None:
    if claim is None:
        return None
    parts = [claim.get(key) for key in ("p", "iss", "sub")] if isinstance(claim, dict) else []
    if len(parts) != 3 or not all(isinstance(part, str) and part for part in parts):
        raise TokenError("token names no valid provider identity (idp)")
    return ProviderIdentity(*(str(part) for part in parts))
