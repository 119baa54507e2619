"""The OIDC broker: people sign in through an OpenID provider, rise then issues its own token.

One ``ProviderClient`` per ``[[auth.oidc]]`` provider runs the authorization code flow with
PKCE (S256) through authlib. ``begin`` makes a fresh ``state``, ``nonce`` and code verifier
(kept server-side, bound to the browser by a cookie: see ``oidc_pages``); ``finish`` trades
the code for tokens and validates the ID token completely before anything is believed:

- the provider's metadata and keys come only from its configured issuer (discovery at
  ``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be that issuer);
- the header's ``alg`` must be one the provider announces for ID tokens *and* an asymmetric
  one (``none`` and HMAC never, whatever the provider says);
- signature against the provider's JWKS (``jwt_verify.IssuerKeys``: an unknown kid refetches
  the keys at most every ``jwks_refresh_seconds``, so a key rotation needs no restart),
  ``iss``, ``aud`` (our client id; with several audiences ``azp`` must be us too), ``exp``,
  ``nbf``, ``iat`` and the ``nonce`` of this very sign-in (constant-time compare).

Claims missing from the ID token (many providers put profile claims only in UserInfo) are
read from the UserInfo endpoint with the access token, whose ``sub`` must match.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from requests import RequestException

from reconciler.server.jwt_verify import ALGORITHMS, IssuerKeys, TokenRefused, verify_jwt
from schemas.server import OidcConfig

_DISCOVERY = "/.well-known/openid-configuration"
_MAX_DOCUMENT_BYTES = 1024 * 1024
_TIMEOUT = 10.0


class OidcError(Exception):
    """A sign-in through the provider failed; the message says why (never a secret)."""


@dataclass(frozen=True)
class Pending:
    """What a sign-in in progress must find again at the callback."""

    provider: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, after every check passed."""

    provider: str
    issuer: str
    subject: str
    username: str
    email: str | None
    groups: tuple[str, ...]


class ProviderClient:
    """One OpenID provider: its metadata, its keys, the code flow and ID token checks."""

    def __init__(
        self,
        config: OidcConfig,
        *,
        client_secret: str | None,
        http: httpx.Client | None = None,
        keys: IssuerKeys | None = None,
    ):
        self.config = config
        self._secret = client_secret
        self._http = http or httpx.Client(timeout=_TIMEOUT, follow_redirects=False)
        self.keys = keys or IssuerKeys(
            config.issuer, http=self._http, min_refresh_seconds=config.jwks_refresh_seconds
        )
        self._metadata: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    # -- discovery ---------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once from the configured issuer."""
        with self._lock:
            if self._metadata is None:
                self._metadata = self._discover()
            return self._metadata

    def _discover(self) -> dict[str, Any]:
        url = self.config.issuer + _DISCOVERY
        try:
            answer = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcError(f"cannot reach provider {self.name!r} at {url} ({exc})") from None
        if answer.status_code != 200 or len(answer.content) > _MAX_DOCUMENT_BYTES:
            raise OidcError(f"provider {self.name!r}: {url} answered {answer.status_code}")
        try:
            document = answer.json()
        except ValueError:
            raise OidcError(f"provider {self.name!r}: {url} is not JSON") from None
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            found = document.get("issuer") if isinstance(document, dict) else None
            raise OidcError(
                f"provider {self.name!r}: discovery names issuer {found!r}, "
                f"not the configured {self.config.issuer!r}"
            )
        for needed in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(document.get(needed), str):
                raise OidcError(f"provider {self.name!r}: discovery has no {needed}")
        return document

    def allowed_algorithms(self) -> frozenset[str]:
        """ID-token algorithms: what the provider announces, never ``none`` or HMAC."""
        announced = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return frozenset(str(alg) for alg in announced) & ALGORITHMS

    # -- the code flow ----------------------------------------------------------------------

    def begin(self, redirect_uri: str) -> tuple[str, Pending]:
        """The provider URL to send the browser to, and what the callback must check."""
        pending = Pending(
            provider=self.name,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
        )
        with self._session(redirect_uri) as oauth:
            url, _ = oauth.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
            )
        return url, pending

    def finish(self, code: str, pending: Pending, redirect_uri: str) -> Identity:
        """Trade ``code`` for tokens, validate the ID token; who signed in."""
        token_endpoint = self.metadata()["token_endpoint"]
        with self._session(redirect_uri) as oauth:
            try:
                tokens = oauth.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            except OAuthError as exc:
                raise OidcError(
                    f"provider {self.name!r} refused the code ({exc.error}: {exc.description})"
                ) from None
            except (RequestException, ValueError) as exc:
                raise OidcError(f"provider {self.name!r}: token request failed ({exc})") from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError(f"provider {self.name!r} returned no ID token (is 'openid' a scope?)")
        try:
            claims = self.validate_id_token(id_token, pending.nonce)
        except TokenRefused as exc:
            raise OidcError(f"the ID token of provider {self.name!r} was refused: {exc}") from None
        access = tokens.get("access_token")
        if isinstance(access, str):
            claims = {**self._userinfo(access, claims["sub"]), **claims}
        return self._identity(claims)

    def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token of this sign-in; ``TokenRefused`` says which check
        failed."""
        alg = _header_alg(id_token)
        allowed = self.allowed_algorithms()
        if alg not in allowed:
            raise TokenRefused(
                f"algorithm {alg!r} is not accepted for ID tokens (accepted: "
                f"{', '.join(sorted(allowed)) or 'none'})"
            )
        claims = verify_jwt(id_token, self.keys, audience=self.config.client_id)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise TokenRefused(f"azp {claims.get('azp')!r} is not this client")
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, nonce):
            raise TokenRefused("nonce does not match this sign-in (a replayed ID token?)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenRefused("the ID token names no subject (sub)")
        return claims

    def _userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        try:
            answer = self._http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            info = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            info = {}
        if not isinstance(info, dict) or info.get("sub") != subject:
            return {}  # OIDC Core 5.3.2: a UserInfo answer for another subject is ignored
        return info

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        mapping = self.config.claims
        username = claims.get(mapping.username)
        if not isinstance(username, str) or not username.strip():
            raise OidcError(
                f"provider {self.name!r} sent no {mapping.username!r} claim; set "
                "[auth.oidc] claims.username to a claim it sends (e.g. 'email' or 'sub')"
            )
        email = claims.get(mapping.email)
        groups = claims.get(mapping.groups) or []
        if isinstance(groups, str):
            groups = [groups]
        return Identity(
            provider=self.name,
            issuer=self.config.issuer,
            subject=str(claims["sub"]),
            username=username.strip(),
            email=email if isinstance(email, str) else None,
            groups=tuple(g for g in groups if isinstance(g, str)),
        )

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            self.config.client_id,
            self._secret,
            token_endpoint_auth_method="client_secret_basic" if self._secret else "none",
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            default_timeout=_TIMEOUT,
        )


class Broker:
    """Every configured provider by name."""

    def __init__(self, providers: list[ProviderClient]):
        self._providers = {provider.name: provider for provider in providers}

    @classmethod
    def from_config(cls, configs: list[OidcConfig], secrets: Mapping[str, str]) -> Broker:
        """A client per provider; ``secrets``: client secret by provider name."""
        return cls([ProviderClient(c, client_secret=secrets.get(c.name)) for c in configs])

    def get(self, name: str) -> ProviderClient | None:
        return self._providers.get(name)

    def providers(self) -> list[ProviderClient]:
        return list(self._providers.values())


def _header_alg(token: str) -> str:
    """The ``alg`` of a compact JWS, read without trusting anything else in it."""
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        raise TokenRefused("not a JWT (its header is not base64url JSON)") from None
    if not isinstance(decoded, dict):
        raise TokenRefused("not a JWT (its header is not a JSON object)")
    return str(decoded.get("alg"))
