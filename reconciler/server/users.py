"""Local users: scrypt password hashes in the data dir, never in git.

``users.json`` (mode 0600) holds one record per user. Hashes are scrypt (RFC 7914) with a
per-user salt, parameters stored beside the hash so they can be raised later, compared in
constant time. Repeated failures lock the name for a while; an unknown name is treated the
same way and costs the same time, so neither timing nor answers tell which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _KEY_BYTES = 2**14, 8, 1, 32
_TRACKED_NAMES = 100_000  # failure counters kept; oldest dropped first


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UserError(ValueError):
    """A user operation that cannot be done as asked (the message says why)."""


class LockedOut(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    username: str
    is_admin: bool
    created_at: datetime
    password_version: int
    """Bumped by every password change; refresh tokens carry it, so a change revokes them."""
    provider: str | None = None
    """The OpenID provider this user signs in through; None for a local (password) user."""
    issuer: str | None = None
    subject: str | None = None
    """The provider's (issuer, subject) of this user: its identity there."""

    @property
    def identity(self) -> ProviderIdentity | None:
        if self.provider is None or self.issuer is None or self.subject is None:
            return None
        return ProviderIdentity(self.provider, self.issuer, self.subject)


@dataclass(frozen=True)
class ProviderIdentity:
    """Who a provider's user is at the provider; rise tokens carry it (claim ``idp``) so a
    replica that has not seen the user's sign-in knows them from the token alone."""

    provider: str
    issuer: str
    subject: str


@dataclass
class _Failures:
    count: int = 0
    locked_until: datetime | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


class UserStore:
    def __init__(
        self,
        path: str | Path,
        *,
        lockout_after: int = 5,
        lockout_seconds: int = 300,
        clock: Clock = _utcnow,
    ):
        self.path = Path(path)
        self._lockout_after = lockout_after
        self._lockout = timedelta(seconds=lockout_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._records = self._load()
        # Verifying against this when the name is unknown makes both cases cost the same.
        self._decoy = hash_password(secrets.token_urlsafe(16))

    # -- reading ---------------------------------------------------------------------------

    def get(self, username: str) -> User | None:
        with self._lock:
            record = self._records.get(username)
        return _user(username, record) if record else None

    def list(self) -> list[User]:
        with self._lock:
            return [_user(name, rec) for name, rec in sorted(self._records.items())]

    def is_empty(self) -> bool:
        with self._lock:
            return not self._records

    # -- changing --------------------------------------------------------------------------

    def create(self, username: str, password: str, *, is_admin: bool = False) -> User:
        record = {
            "hash": hash_password(password),
            "is_admin": is_admin,
            "created_at": self._clock().isoformat(),
            "password_version": 1,
        }
        with self._lock:
            if username in self._records:
                raise UserError(f"user {username!r} already exists")
            self._records[username] = record
            self._save()
        return _user(username, record)

    def set_password(self, username: str, password: str) -> User:
        hashed = hash_password(password)
        with self._lock:
            record = self._records.get(username)
            if record is None:
                raise UserError(f"user {username!r} does not exist")
            if "hash" not in record:  # a provider's user never gets a password here
                raise UserError(
                    f"{username!r} signs in through provider {record.get('provider')!r}; "
                    "their password lives there"
                )
            record.update(hash=hashed, password_version=int(str(record["password_version"])) + 1)
            self._save()
            for key in [k for k in self._failures if k.endswith(f"\0{username}")]:
                del self._failures[key]  # a reset password unlocks the name everywhere
            return _user(username, record)

    def delete(self, username: str) -> None:
        """Remove a user; their tokens stop working at once (``Authenticator`` looks them up)."""
        with self._lock:
            if self._records.pop(username, None) is None:
                raise UserError(f"user {username!r} does not exist")
            self._save()

    def external(
        self, *, provider: str, issuer: str, subject: str, username: str, email: str | None
    ) -> User:
        """The user of (``issuer``, ``subject``) at an OpenID provider, created on first
        sign-in as ``username`` (or ``username-2``, ``-3``... when that name is taken: an
        identity never merges into another user). Found again by (issuer, subject) only, so
        a rename at the provider keeps the rise name; the email is kept current."""
        with self._lock:
            found = self._find_identity(issuer, subject)
            if found is not None:
                name, record = found
                if record.get("email") != email:
                    record["email"] = email
                    self._save()
                return _user(name, record)
            name, n = username, 1
            while name in self._records:
                n += 1
                name = f"{username[: 60 - len(str(n))]}-{n}"
            return self._add_external(name, ProviderIdentity(provider, issuer, subject), email)

    def adopt(self, username: str, identity: ProviderIdentity) -> User | None:
        """The provider's user ``username`` as a rise token names it, created here when this
        server has not seen them sign in (another replica did); None when ``username`` is
        another user here, or this identity has another name here: never a merge."""
        with self._lock:
            found = self._find_identity(identity.issuer, identity.subject)
            if found is not None:
                return _user(*found) if found[0] == username else None
            if username in self._records:
                return None
            return self._add_external(username, identity, None)

    def _find_identity(self, issuer: str, subject: str) -> tuple[str, dict[str, object]] | None:
        for name, record in self._records.items():
            if record.get("issuer") == issuer and record.get("subject") == subject:
                return name, record
        return None

    def _add_external(self, name: str, identity: ProviderIdentity, email: str | None) -> User:
        record: dict[str, object] = {
            "provider": identity.provider,
            "issuer": identity.issuer,
            "subject": identity.subject,
            "email": email,
            "is_admin": False,
            "created_at": self._clock().isoformat(),
            "password_version": 1,
        }
        self._records[name] = record
        self._save()
        return _user(name, record)

    # -- logging in ------------------------------------------------------------------------

    def verify(self, username: str, password: str, client: str = "") -> User | None:
        """The user when the password is right, else None; LockedOut while locked.

        Failures count per (client, user name): a client that guesses locks out only itself,
        never the user's own logins from elsewhere.
        """
        key = f"{client}\0{username}"
        self._check_lock(key)
        with self._lock:
            record = self._records.get(username)
        # A provider's user has no hash: checked against the decoy, which never matches.
        stored = str(record["hash"]) if record and "hash" in record else self._decoy
        if check_password(password, stored) and record is not None and "hash" in record:
            with self._lock:
                self._failures.pop(key, None)
            return _user(username, record)
        self._fail(key)
        return None

    def _check_lock(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            state = self._failures.get(key)
            if state and state.locked_until:
                if now < state.locked_until:
                    raise LockedOut(max(1, int((state.locked_until - now).total_seconds()) + 1))
                self._failures.pop(key)

    def _fail(self, key: str) -> None:
        with self._lock:
            state = self._failures.pop(key, None) or _Failures()
            state.count += 1
            if state.count >= self._lockout_after:
                state.locked_until = self._clock() + self._lockout
            self._failures[key] = state
            while len(self._failures) > _TRACKED_NAMES:
                self._failures.popitem(last=False)

    # -- the file --------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            users = data["users"]
            if not isinstance(users, dict):
                raise TypeError("'users' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"{self.path} is not a rise user store ({exc}); restore it from a backup"
            ) from None
        return users

    def _save(self) -> None:
        """Write a new file and rename it over the old one: readers never see half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"users": self._records}, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)


def _user(username: str, record: dict[str, object]) -> User:
    return User(
        username=username,
        is_admin=bool(record.get("is_admin")),
        created_at=datetime.fromisoformat(str(record["created_at"])),
        password_version=int(str(record["password_version"])),
        provider=str(record["provider"]) if record.get("provider") else None,
        issuer=str(record["issuer"]) if record.get("issuer") else None,
        subject=str(record["subject"]) if record.get("subject") else None,
    )


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=64 << 20
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
