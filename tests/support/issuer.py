"""A local token issuer on 127.0.0.1: discovery, a JWKS, and tokens minted with joserfc.

It stands in for GitHub Actions, GitLab CI or any OpenID provider that signs JWTs a rise
server is told to trust. ``LocalIssuer`` serves ``/.well-known/openid-configuration`` and
``/jwks`` over real loopback HTTP (so the code under test fetches keys as it would in
production), counts the JWKS fetches, and can rotate its signing key::

    with LocalIssuer() as issuer:
        token = issuer.mint({"aud": "rise", "repository": "org/app"})
        issuer.rotate()          # a new key signs; the old one is still published
        issuer.rotate(drop_old=True)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.server.conftest import RunningServer, start_server

Key = RSAKey | ECKey | OKPKey


def generate_key(alg: str) -> Key:
    """A fresh private key able to sign ``alg``."""
    if alg.startswith(("RS", "PS")):
        return RSAKey.generate_key(2048)
    if alg == "ES384":
        return ECKey.generate_key("P-384")
    if alg.startswith("ES"):
        return ECKey.generate_key("P-256")
    return OKPKey.generate_key("Ed25519")


class LocalIssuer:
    """An issuer at ``http://127.0.0.1:<port>`` (its ``url`` is the tokens' ``iss``)."""

    def __init__(self, alg: str = "RS256", *, announce_issuer: str | None = None):
        self.alg = alg
        self.keys: dict[str, Key] = {}
        self.signing_kid = ""
        self.jwks_fetches = 0
        self._serial = 0
        self._announce = announce_issuer
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.rotate()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def rotate(self, *, drop_old: bool = False) -> str:
        """Sign with a new key from now on; its kid."""
        with self._lock:
            self._serial += 1
            kid = f"key-{self._serial}"
            if drop_old:
                self.keys.clear()
            self.keys[kid] = generate_key(self.alg)
            self.signing_kid = kid
            return kid

    def claims(self, **extra: Any) -> dict[str, Any]:
        """Valid claims for a token that lives five minutes, with ``extra`` on top."""
        now = int(time.time())
        base: dict[str, Any] = {"iss": self.url, "iat": now, "nbf": now, "exp": now + 300}
        base.update(extra)
        return {name: value for name, value in base.items() if value is not None}

    def mint(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        header: dict[str, Any] | None = None,
        key: Key | None = None,
    ) -> str:
        """A token signed by the current key (or ``kid``'s, or ``key``), claims as given;
        a ``header`` field set to None is left out."""
        kid = kid or self.signing_kid
        signer = key or self.keys[kid]
        fields = {"alg": self.alg, "kid": kid, "typ": "JWT", **(header or {})}
        fields = {name: value for name, value in fields.items() if value is not None}
        return jwt.encode(fields, claims, signer, algorithms=[fields["alg"]])

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {
                "keys": [
                    {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": self.alg}
                    for kid, key in self.keys.items()
                ]
            }

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self._announce or self.url,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": [self.alg],
        }


def _handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json(issuer.discovery())
            elif self.path == "/jwks":
                with issuer._lock:
                    issuer.jwks_fetches += 1
                self._json(issuer.jwks())
            else:
                self.send_error(404)

        def _json(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


def github_actions_claims(
    issuer: LocalIssuer,
    audience: str,
    repository: str = "org/app",
    ref: str = "refs/heads/main",
    **extra: Any,
) -> dict[str, Any]:
    """Claims shaped like a GitHub Actions OIDC token of a push to ``ref`` of ``repository``."""
    owner = repository.split("/")[0]
    return issuer.claims(
        aud=audience,
        sub=f"repo:{repository}:ref:{ref}",
        repository=repository,
        repository_owner=owner,
        repository_id="123456",
        ref=ref,
        ref_type="branch",
        sha="0123456789abcdef0123456789abcdef01234567",
        workflow="deploy",
        job_workflow_ref=f"{repository}/.github/workflows/deploy.yml@{ref}",
        event_name="push",
        actor="octocat",
        run_id="987654321",
        runner_environment="github-hosted",
        **extra,
    )


def trusting_config(path: Path, issuer: LocalIssuer, audience: str, refresh: float = 0.5) -> Path:
    """A server configuration file that trusts ``issuer`` for ``audience``."""
    path.write_text(
        "[[auth.trusted_issuers]]\n"
        f'issuer = "{issuer.url}"\n'
        f'audience = "{audience}"\n'
        f"jwks_refresh_seconds = {refresh}\n"
    )
    return path


def start_trusting_server(
    folder: Path, issuer: LocalIssuer, audience: str, refresh: float = 0.5
) -> RunningServer:
    """A ``rise server`` (data in ``folder/data``) that trusts ``issuer`` for ``audience``."""
    config = trusting_config(folder / "server.toml", issuer, audience, refresh)
    return start_server(folder / "data", args=("--config", str(config)))
