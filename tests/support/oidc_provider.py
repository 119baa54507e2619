"""A real OpenID provider for the login tests: npm ``oidc-provider`` run by Node on loopback.

``OidcProvider`` writes a config file (issuer, port, private signing keys, static clients,
each account's groups) and runs ``tests/support/oidc_provider/server.mjs`` with it. The
test holds the signing keys, so it can mint ID tokens the provider's JWKS vouches for (and
tamper with them); ``rotate()`` restarts the provider with a new key first in its set, as a
provider rotating its keys does. Its dev login page takes any login and password.

Node and the ``oidc-provider`` package (``npm ci`` in that folder; ``.ci/run`` does it)
must be there: in CI a missing one fails the test, elsewhere it is skipped.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.tools import in_ci, require_tool
from tests.support.waiting import free_port, signal_and_wait, wait_for_http

FOLDER = Path(__file__).parent / "oidc_provider"
CLIENT_ID = "rise"
CLIENT_SECRET = "rise-test-client-secret"
SECRET_VARIABLE = "OIDC_TEST_CLIENT_SECRET"


MIN_NODE = (20, 18)
"""oidc-provider 9 calls crypto.hash and URL.parse: Node 20.18 or later (Debian 12's is 18)."""


def require_provider() -> str:
    """The node executable, once the provider package is installed (fail/skip otherwise)."""
    node = require_tool("node", "apt-get install nodejs")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    problem = None
    if found < MIN_NODE:
        problem = f"oidc-provider 9 needs Node >= {'.'.join(map(str, MIN_NODE))}, not {version}"
    elif not (FOLDER / "node_modules" / "oidc-provider" / "package.json").exists():
        problem = f"oidc-provider is not installed: (cd {FOLDER} && npm ci)"
    if problem and in_ci():
        pytest.fail(f"{problem}; .ci/run must install it")
    if problem:
        pytest.skip(problem)
    return node


def new_key() -> RSAKey:
    kid = secrets.token_hex(8)
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


class OidcProvider:
    """The provider at ``issuer`` (``http://127.0.0.1:<port>``), not started until ``start``."""

    def __init__(self, workdir: Path, groups: dict[str, list[str]] | None = None):
        self.node = require_provider()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keys = [new_key()]
        self.groups = groups or {}
        self.redirect_uris: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "provider.log"

    @property
    def signing_key(self) -> RSAKey:
        """The key the provider signs with now (the first of its set)."""
        return self.keys[0]

    def start(self, redirect_uris: list[str]) -> None:
        self.redirect_uris = redirect_uris
        config = self.workdir / "provider.json"
        config.write_text(json.dumps(self._config()))
        config.chmod(0o600)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.node, str(FOLDER / "server.mjs"), str(config)],
                cwd=FOLDER,
                stdout=log,
                stderr=log,
            )
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        try:
            wait_for_http(discovery, lambda r: r.status_code == 200, self._process, 30)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"oidc-provider did not start ({exc}):\n{self.log()}") from None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            signal_and_wait(self._process, signal.SIGTERM, 20, self.log)
        self._process = None

    def rotate(self) -> RSAKey:
        """A new signing key, first in the set (the old one still published), by restarting
        the provider as a deployment would; the new key."""
        key = new_key()
        self.keys = [key, *self.keys]
        self.stop()
        self.start(self.redirect_uris)
        return key

    def sign_in_directly(self, login: str, redirect_uri: str, nonce: str) -> dict[str, Any]:
        """The provider's tokens for ``login``, by the code flow with PKCE driven over plain
        HTTP (its dev login page), the code taken from the redirect to ``redirect_uri``
        without ever reaching it."""
        verifier = secrets.token_urlsafe(48)
        oauth = OAuth2Session(
            CLIENT_ID,
            CLIENT_SECRET,
            scope="openid profile email groups",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        url, _ = oauth.create_authorization_url(
            f"{self.issuer}/auth", nonce=nonce, code_verifier=verifier
        )
        with httpx.Client(timeout=30) as browser:
            location = self.follow_login(browser, url, login, redirect_uri)
        code = parse_qs(urlsplit(location).query)["code"][0]
        return dict(oauth.fetch_token(f"{self.issuer}/token", code=code, code_verifier=verifier))

    def follow_login(self, browser: httpx.Client, url: str, login: str, back_to: str) -> str:
        """From ``url`` (an authorization request, or a rise page redirecting to one),
        through the provider's login page as ``login``, to the redirect back to a URL
        starting with ``back_to``; that URL (not followed)."""
        answer = browser.get(url)
        while answer.is_redirect and not answer.headers["location"].startswith(back_to):
            answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
        form = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
        assert form, answer.text
        target = urljoin(str(answer.url), form.group(1))
        answer = browser.post(target, data={"prompt": "login", "login": login, "password": "x"})
        while not answer.headers.get("location", "").startswith(back_to):
            assert answer.is_redirect, answer.text
            answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
        return str(answer.headers["location"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def mint(
        self,
        claims: dict[str, Any],
        *,
        key: Any = None,
        header: dict[str, Any] | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """A JWT signed with ``key`` (default: the provider's signing key) and a header
        naming that key's kid, unless ``header`` says otherwise."""
        key = key or self.signing_key
        fields = {"alg": algorithm, "typ": "JWT"}
        if isinstance(key, RSAKey):
            fields["kid"] = str(key.kid)
        return jwt.encode({**fields, **(header or {})}, claims, key, algorithms=[algorithm])

    def _config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "port": self.port,
            "keys": [key.as_dict(private=True) for key in self.keys],
            "groups": self.groups,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }
            ],
        }


def stopped_after(provider: OidcProvider) -> Iterator[OidcProvider]:
    """Yield ``provider`` (to a fixture), stopping it afterwards whatever happened."""
    try:
        yield provider
    finally:
        provider.stop()


def provider_config(provider: OidcProvider, **extra: Any) -> dict[str, Any]:
    """An ``[[auth.oidc]]`` entry of a rise server for ``provider`` (client secret from the
    variable ``SECRET_VARIABLE``)."""
    return {
        "name": "corp",
        "display_name": "Corp SSO",
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_VARIABLE,
        "scopes": ["openid", "profile", "email", "groups"],
        "jwks_refresh_seconds": 0.5,
        **extra,
    }
