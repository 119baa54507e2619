"""The OAuth 2.0 device authorization grant (RFC 8628), served by rise itself.

``rise login`` asks for a code pair: a long secret ``device_code`` it keeps, and a short
``user_code`` (``BCDF-GHJK``: 8 of the RFC's 20 consonants, ~34 bits) the person confirms on
the login page. The CLI then polls; each poll answers exactly as RFC 8628 section 3.5 says.

Grants live in memory: a code lives minutes, and a restart simply makes ``rise login`` start
again. Device codes are stored by their SHA-256, user codes are single-use (an approved or
denied code is gone from the page at once), and looking user codes up is rate limited per
client (misses only), which is what makes guessing one hopeless.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from reconciler.server.throttle import RateLimiter, Throttled

Clock = Callable[[], float]
Status = Literal["pending", "approved", "denied"]

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 section 6.1: no vowels, no digits
USER_CODE_LENGTH = 8
SLOW_DOWN_SECONDS = 5  # RFC 8628 section 3.5: the interval grows by 5 s on each slow_down
MAX_GRANTS = 10_000


class DeviceError(Exception):
    """A token-endpoint refusal: ``error`` is the RFC's error code."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class Grant:
    user_code: str
    client_id: str
    expires_at: float
    interval: int
    status: Status = "pending"
    username: str | None = None
    last_poll: float | None = None


@dataclass(frozen=True)
class Issued:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


class DeviceFlow:
    """Issues code pairs, approves or denies them, and answers polls."""

    def __init__(
        self,
        *,
        expires_in: int,
        interval: int,
        lookups: RateLimiter,
        clock: Clock = time.monotonic,
    ):
        self._expires_in = expires_in
        self._interval = interval
        self._lookups = lookups
        self._clock = clock
        self._grants: dict[str, Grant] = {}  # by SHA-256 of the device code
        self._by_user_code: dict[str, str] = {}  # user code -> device-code hash
        self._blocked: OrderedDict[str, float] = OrderedDict()  # client -> until
        self._lock = threading.Lock()

    def issue(self, client_id: str) -> Issued:
        device_code = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._expire(now)
            if len(self._grants) >= MAX_GRANTS:
                raise Throttled("too many logins are waiting; try again shortly", 5)
            user_code = _new_user_code(self._by_user_code)
            key = _digest(device_code)
            self._grants[key] = Grant(user_code, client_id, now + self._expires_in, self._interval)
            self._by_user_code[user_code] = key
        return Issued(device_code, format_user_code(user_code), self._expires_in, self._interval)

    def pending(self, client: str, user_code: str) -> str | None:
        """The normalised user code when it is waiting for approval, else None.

        Each miss costs ``client`` a token of its bucket; a miss that finds it empty blocks
        the client (``Throttled``) until a token is back, for every code, right ones too,
        so a guesser learns nothing faster than the bucket refills.
        """
        now = self._clock()
        code = normalise_user_code(user_code)
        with self._lock:
            blocked = self._blocked.get(client, 0.0)
            if now < blocked:
                raise Throttled(
                    "too many unknown login codes from this client", _ceil(blocked - now)
                )
            self._expire(now)
            grant = self._grant_of(code)
            if grant is not None and grant.status == "pending":
                return code
            wait = self._lookups.take(client)
            if wait:
                self._blocked[client] = now + wait
                while len(self._blocked) > MAX_GRANTS:
                    self._blocked.popitem(last=False)
                raise Throttled("too many unknown login codes from this client", _ceil(wait))
            return None

    def decide(self, user_code: str, username: str | None) -> bool:
        """Approve for ``username`` (None: deny) a pending code; False when it is not one."""
        code = normalise_user_code(user_code)
        with self._lock:
            self._expire(self._clock())
            grant = self._grant_of(code)
            if grant is None or grant.status != "pending":
                return False
            grant.status = "approved" if username else "denied"
            grant.username = username
            del self._by_user_code[code]  # single use: the page never finds it again
            return True

    def poll(self, device_code: str, client_id: str) -> str:
        """The approved user name (the grant is then used up), or a ``DeviceError``."""
        now = self._clock()
        key = _digest(device_code)
        with self._lock:
            grant = self._grants.get(key)
            if grant is None or grant.client_id != client_id:
                raise DeviceError(
                    "invalid_grant", "unknown or already used device code; run 'rise login' again"
                )
            if now >= grant.expires_at:
                self._drop(key)
                raise DeviceError("expired_token", "the code expired; run 'rise login' again")
            if grant.status == "denied":
                self._drop(key)
                raise DeviceError("access_denied", "the login was denied on the login page")
            if grant.status == "approved" and grant.username:
                self._drop(key)
                return grant.username
            too_soon = grant.last_poll is not None and now - grant.last_poll < grant.interval
            grant.last_poll = now
            if too_soon:
                grant.interval += SLOW_DOWN_SECONDS
                raise DeviceError(
                    "slow_down", f"polled too fast; wait {grant.interval} s between polls"
                )
            raise DeviceError("authorization_pending", "waiting for approval on the login page")

    def _grant_of(self, code: str) -> Grant | None:
        key = self._by_user_code.get(code)
        return self._grants.get(key) if key else None

    def _drop(self, key: str) -> None:
        grant = self._grants.pop(key, None)
        if grant is not None:
            self._by_user_code.pop(grant.user_code, None)

    def _expire(self, now: float) -> None:
        # Expired grants stay until their poll says expired_token, but no longer than a
        # lifetime past expiry, so abandoned logins never pile up.
        for key in [k for k, g in self._grants.items() if now >= g.expires_at + self._expires_in]:
            self._drop(key)
        for code in [c for c, k in self._by_user_code.items() if now >= self._grants[k].expires_at]:
            del self._by_user_code[code]


def format_user_code(code: str) -> str:
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalise_user_code(text: str) -> str:
    """What a person typed, as stored: upper case, without dashes or spaces (RFC 8628 6.1);
    only ASCII letters and digits are kept, never look-alikes from other scripts."""
    kept = (c for c in text.upper() if c.isascii() and c.isalnum())
    return "".join(kept)[: USER_CODE_LENGTH * 2]


def _new_user_code(taken: dict[str, str]) -> str:
    while True:
        code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        if code not in taken:
            return code


def _ceil(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def _digest(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()
