"""``service-accounts/<project>/<name>.toml``: CI identities matched by token claims.

A token from a trusted issuer acts as the service account whose ``issuer`` is the token's
``iss`` and whose every claim matcher matches. A matcher's value is an ``fnmatch`` pattern,
matched case-sensitively against the whole claim: ``*`` is any run of characters (``/``
included, so ``refs/heads/*`` matches ``refs/heads/feature/x``), ``?`` one character,
``[abc]`` one of a set; a value without those characters must be equal. Only string claims
match. ``*`` alone is refused: it would let anything the issuer signs match.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from schemas.base import FileModel, Payload, RequestBody
from schemas.names import Name

MAX_CLAIMS = 20
MAX_PATTERN_LENGTH = 512
# Checked by rise itself before any matcher; matching on them would say nothing, or could not
# match (they are numbers).
RESERVED_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti"})
_CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def claim_problem(name: str, pattern: str) -> str | None:
    """Why ``name = pattern`` is not a usable claim matcher, or None."""
    if not _CLAIM_NAME.fullmatch(name):
        return (
            f"claim name {name!r} must start with a letter or '_' and hold only letters, "
            "digits, '_', '.', ':' and '-' (e.g. repository, ref, project_path)"
        )
    if name in RESERVED_CLAIMS:
        return f"claim {name!r} is checked by rise itself; match on the token's other claims"
    if not pattern:
        return f"claim {name!r} needs a value to match (e.g. {name}=org/app)"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return (
            f"the value of claim {name!r} is {len(pattern)} characters long; "
            f"the limit is {MAX_PATTERN_LENGTH}"
        )
    if set(pattern) <= {"*"}:
        return (
            f"claim {name!r} = {pattern!r} matches anything, so any token of the issuer would "
            "match; give the value, or a narrower pattern such as 'org/*'"
        )
    return None


def is_issuer_url(issuer: str) -> bool:
    """https://, or http:// on loopback (a test issuer): keys over plain HTTP could be forged."""
    return issuer.startswith(("https://", "http://127.", "http://[::1]", "http://localhost"))


def _checked_claims(claims: dict[str, str]) -> dict[str, str]:
    if not claims:
        raise ValueError("at least one claim matcher is required, or any token would match")
    if len(claims) > MAX_CLAIMS:
        raise ValueError(f"{len(claims)} claim matchers; the limit is {MAX_CLAIMS}")
    for name, pattern in claims.items():
        problem = claim_problem(name, pattern)
        if problem:
            raise ValueError(problem)
    return claims


# The same rules for JSON Schema readers (editors, the OpenAPI document, its fuzzer).
CLAIMS_JSON_SCHEMA = {
    "type": "object",
    "description": "claim name -> fnmatch pattern (* ? [..]) its string value must match",
    "minProperties": 1,
    "maxProperties": MAX_CLAIMS,
    "propertyNames": {
        "pattern": _CLAIM_NAME.pattern,
        "not": {"enum": sorted(RESERVED_CLAIMS)},
    },
    "additionalProperties": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PATTERN_LENGTH,
        "pattern": "[^*]",
    },
}
Claims = Annotated[
    dict[str, str], AfterValidator(_checked_claims), WithJsonSchema(CLAIMS_JSON_SCHEMA)
]


class ServiceAccountFile(FileModel):
    issuer: str = Field(description="the trusted issuer's URL (the token's iss claim)")
    claims: Claims = Field(
        description=(
            "claims the token must carry, each matching its fnmatch pattern (* ? [..]), "
            "e.g. repository = 'org/app', ref = 'refs/heads/*'"
        )
    )
    created_by: str | None = None

    @model_validator(mode="after")
    def _https_issuer(self) -> ServiceAccountFile:
        if not is_issuer_url(self.issuer):
            raise ValueError(f"issuer {self.issuer!r} must be an https:// URL")
        return self


class ServiceAccountCreate(RequestBody):
    """``POST /api/v1/projects/{project}/service-accounts``."""

    name: Name
    issuer: str = Field(description="one of the server's [[auth.trusted_issuers]]")
    claims: Claims


class ServiceAccountInfo(Payload):
    project: str
    name: str
    issuer: str
    claims: dict[str, str]
    created_by: str | None = None
    commit: str | None = Field(default=None, description="set by writes: the new commit")
