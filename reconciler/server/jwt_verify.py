"""Verify JWTs signed by another issuer (a CI system, an OpenID provider) against its JWKS.

``IssuerKeys`` finds the issuer's key set through discovery
(``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be the issuer itself, so
a document served from one place cannot speak for another) unless ``jwks_url`` is given, and
caches the keys by kid. A kid not in the cache triggers at most one refetch per
``min_refresh_seconds``: a rotated key is picked up without a restart, and a flood of tokens
with made-up kids costs one request to the issuer, not one each.

``verify_jwt`` makes every check explicitly and in an order where nothing expensive happens
for a token refused on its header: the algorithm must be an asymmetric one (``none`` and
HMAC are refused before any key is looked up: HS256 "signed" with a public key is the classic
confusion attack), the kid must be known, the key must fit the algorithm, then the signature,
then ``iss``, ``aud``, ``exp`` (required), ``nbf`` and ``iat`` with ``leeway`` seconds of clock
skew. Every refusal is a ``TokenRefused`` whose message says which check failed. Both are
synchronous and thread-safe (callers in async code run them in a thread).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

Key = RSAKey | ECKey | OKPKey

# Algorithm -> (key type, curve or None): the only ones accepted, all asymmetric.
_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),  # RFC 9864's name for the same
}
ALGORITHMS = frozenset(_ALGORITHMS)
_MAX_TOKEN_BYTES = 16 * 1024  # far above any real ID token; refuses junk before parsing it
_MAX_DOCUMENT_BYTES = 1024 * 1024


class TokenRefused(Exception):
    """Why a token was not accepted: which check failed, in words a person can act on."""


class IssuerKeys:
    """The signing keys of one issuer, fetched on demand and cached by kid."""

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_refresh_seconds: float = 30.0,
    ):
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._http = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self._clock = clock
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, Key] = {}
        self._last_attempt: float | None = None
        self._last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def key(self, kid: str) -> Key:
        """The key with this kid, refetching the JWKS once if it is new (rate limited)."""
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)
            if found is None and self._may_refresh():
                self._refresh_locked()
                found = self._keys.get(kid)
        if found is not None:
            return found
        if self._last_error is not None:
            raise TokenRefused(
                f"kid {kid!r} is not a known key of {self.issuer} and its keys could not be "
                f"fetched: {self._last_error}"
            )
        raise TokenRefused(f"kid {kid!r} is not in the key set of {self.issuer}")

    def refresh(self) -> None:
        """Fetch the key set now, whatever the rate limit (at start, or from an operator)."""
        with self._lock:
            self._refresh_locked()

    def _may_refresh(self) -> bool:
        last = self._last_attempt
        return last is None or self._clock() - last >= self._min_refresh

    def _refresh_locked(self) -> None:
        self._last_attempt = self._clock()
        try:
            url = self._jwks_url or self._discover()
            self._keys = _parse_jwks(self._get_json(url), url)
            self._last_error = None
        except TokenRefused as exc:
            self._last_error = str(exc)  # keep the keys we had: the issuer may be down briefly

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url)
        announced = document.get("issuer")
        if not isinstance(announced, str) or not hmac.compare_digest(
            announced.encode(), self.issuer.encode()
        ):
            raise TokenRefused(
                f"the discovery document at {url} names issuer {announced!r}, not {self.issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise TokenRefused(f"the discovery document at {url} has no jwks_uri")
        self._jwks_url = jwks_uri  # discovery once; the key set is what rotates
        return jwks_uri

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TokenRefused(f"GET {url} failed: {exc}") from None
        if response.status_code != 200:
            raise TokenRefused(f"GET {url} answered {response.status_code}")
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise TokenRefused(f"GET {url} answered a document over {_MAX_DOCUMENT_BYTES} bytes")
        try:
            document = response.json()
        except ValueError:
            raise TokenRefused(f"GET {url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise TokenRefused(f"GET {url} did not answer a JSON object")
        return document


def _parse_jwks(document: Mapping[str, Any], url: str) -> dict[str, Key]:
    """Signing keys by kid; a key without kid, of another use or unreadable is skipped (one
    odd key must not take the issuer's other keys down with it)."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise TokenRefused(f"the key set at {url} has no 'keys' list")
    keys: dict[str, Key] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        try:
            key = JWKRegistry.import_key(entry)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey | ECKey | OKPKey):
            keys[entry["kid"]] = key
    return keys


def verify_jwt(
    token: str,
    keys: IssuerKeys,
    *,
    audience: str,
    now: Callable[[], float] = time.time,
    leeway: int = 30,
) -> dict[str, Any]:
    """The claims of ``token`` once every check passed; ``TokenRefused`` saying which failed."""
    header = _header(token)
    alg = header.get("alg")
    if alg not in _ALGORITHMS:
        raise TokenRefused(
            f"algorithm {alg!r} is not accepted (allowed: {', '.join(sorted(_ALGORITHMS))})"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("the token header has no kid, so no key can be chosen")
    key = keys.key(kid)
    _check_key_fits(key, kid, alg)
    try:
        claims = jwt.decode(token, key, algorithms=[alg]).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise TokenRefused("the signature does not verify (the token was altered)") from None
    if not isinstance(claims, dict):
        raise TokenRefused("the token payload is not a JSON object")
    _check_claims(claims, keys.issuer, audience, now(), leeway)
    return claims


def _header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_BYTES:
        raise TokenRefused("the token is not a JWT of a sensible size")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise TokenRefused("the token is not a JWT (three dot-separated parts)")
    try:
        header = json.loads(_b64decode(parts[0]))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenRefused("the token header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise TokenRefused("the token header is not a JSON object")
    if "crit" in header:  # no extension is understood, so none may be required of us
        raise TokenRefused("the token header has 'crit' extensions, which are not supported")
    return header


def _b64decode(segment: str) -> bytes:
    if not segment.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _check_key_fits(key: Key, kid: str, alg: str) -> None:
    kty, crv = _ALGORITHMS[alg]
    if key.key_type != kty or (crv is not None and key.as_dict().get("crv") != crv):
        raise TokenRefused(f"key {kid!r} is a {key.key_type} key that cannot verify {alg}")
    declared = key.get("alg")
    if declared is not None and declared != alg:
        raise TokenRefused(f"key {kid!r} is for {declared}, but the token says {alg}")


def _check_claims(
    claims: Mapping[str, Any], issuer: str, audience: str, now: float, leeway: int
) -> None:
    iss = claims.get("iss")
    if not isinstance(iss, str) or not hmac.compare_digest(iss.encode(), issuer.encode()):
        raise TokenRefused(f"issuer (iss) {iss!r} is not {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise TokenRefused(f"audience (aud) {aud!r} does not include {audience!r}")
    exp = _time_claim(claims, "exp")
    if exp is None:
        raise TokenRefused("the token has no expiry (exp)")
    if now > exp + leeway:
        raise TokenRefused(f"the token expired {int(now - exp)} s ago (exp)")
    nbf = _time_claim(claims, "nbf")
    if nbf is not None and now + leeway < nbf:
        raise TokenRefused(f"the token is not valid for another {int(nbf - now)} s (nbf)")
    iat = _time_claim(claims, "iat")
    if iat is not None and now + leeway < iat:
        raise TokenRefused(f"the token was issued {int(iat - now)} s in the future (iat)")


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TokenRefused(f"claim {name!r} is not a number of seconds ({value!r})")
    return float(value)
