"""JWTs from trusted issuers (``[[auth.trusted_issuers]]``) acting as service accounts.

A CI system (GitHub Actions, GitLab CI) hands each job a short-lived JWT. When its ``iss`` is
a trusted issuer, the token is verified against that issuer's keys and audience
(``jwt_verify``), then matched against every service account of that issuer in the state
repository (``service-accounts/<project>/<name>.toml``): the caller is the one account whose
every claim matcher matches. No match is a 401 that shows the claims to match on; two or more
is a 401 that names them all, never a pick (which account would win would depend on file
order, and the wrong one could deploy). Blocking (the key set may be fetched): call it in a
thread.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from reconciler.server.authz import Principal
from reconciler.server.jwt_verify import IssuerKeys, TokenRefused, verify_jwt
from reconciler.state import Snapshot
from schemas import ServiceAccountFile
from schemas.server import TrustedIssuer

# Claims shown when no account matches: what a person writes --claim for.
_SHOWN_CLAIMS = ("sub", "repository", "ref", "environment", "project_path", "workflow")


class TrustRefused(Exception):
    """Why a trusted issuer's token is no service account here (a 401)."""


class TrustedIssuers:
    """Verifies tokens of the configured issuers and finds their service account."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        snapshot: Callable[[], Snapshot],
        *,
        http: httpx.Client | None = None,
    ):
        self._config = {item.issuer: item for item in issuers}
        client = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self._keys = {
            item.issuer: IssuerKeys(
                item.issuer,
                jwks_url=item.jwks_url,
                http=client,
                min_refresh_seconds=item.jwks_refresh_seconds,
            )
            for item in issuers
        }
        self._snapshot = snapshot

    @property
    def issuers(self) -> list[str]:
        return sorted(self._config)

    def handles(self, issuer: str) -> bool:
        return issuer in self._config

    def principal(self, token: str, issuer: str) -> Principal:
        """The service account ``token`` (whose unverified ``iss`` is ``issuer``) acts as."""
        config = self._config[issuer]
        try:
            claims = verify_jwt(token, self._keys[issuer], audience=config.audience)
        except TokenRefused as exc:
            raise TrustRefused(f"token from trusted issuer {issuer} refused: {exc}") from None
        found = matching_accounts(issuer, claims, _accounts(self._snapshot()))
        if not found:
            raise TrustRefused(
                f"no service account matches this token from {issuer} "
                f"({_describe(claims)}); a project owner creates one with 'rise sa create "
                f"PROJECT NAME --issuer {issuer} --claim NAME=VALUE'"
            )
        if len(found) > 1:
            names = ", ".join(f"{project}/{name}" for project, name in found)
            raise TrustRefused(
                f"this token from {issuer} matches several service accounts ({names}), so it "
                "is refused rather than guessed; narrow their claims so exactly one matches"
            )
        project, name = found[0]
        return Principal(f"{project}/{name}", kind="service-account", project=project)


def matching_accounts(
    issuer: str,
    claims: Mapping[str, Any],
    accounts: Iterable[tuple[str, str, ServiceAccountFile]],
) -> list[tuple[str, str]]:
    """(project, name) of every account of ``issuer`` whose every matcher matches ``claims``."""
    return [
        (project, name)
        for project, name, account in accounts
        if account.issuer == issuer and claims_match(account.claims, claims)
    ]


def claims_match(matchers: Mapping[str, str], claims: Mapping[str, Any]) -> bool:
    """Every matcher matches its claim (a string) with ``fnmatch`` rules, case-sensitively."""
    if not matchers:
        return False  # the schema refuses none; never let an empty set match everything
    for name, pattern in matchers.items():
        value = claims.get(name)
        if not isinstance(value, str) or not fnmatch.fnmatchcase(value, pattern):
            return False
    return True


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a compact JWT claims, unverified: only to choose which keys verify it."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 16 * 1024:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def _accounts(snapshot: Snapshot) -> Iterable[tuple[str, str, ServiceAccountFile]]:
    for project, state in snapshot.projects.items():
        if state.project is None:
            continue  # a project rise cannot read has no deployments to make
        for name, account in state.service_accounts.items():
            yield project, name, account


def _describe(claims: Mapping[str, Any]) -> str:
    shown = [f"{key}={claims[key]!r}" for key in _SHOWN_CLAIMS if isinstance(claims.get(key), str)]
    return ", ".join(shown) or "no sub claim"
