"""Request and response bodies of the rise server's REST API (``/api/v1``).

One source of truth: the server validates requests and serialises responses with these models,
and generates ``/api/v1/openapi.json`` from them. Requests reject unknown keys (a mistyped key
gets a close-match suggestion); responses are what the CLI reads.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from schemas.base import Payload
from schemas.deployment import DeploymentId, DeploymentState
from schemas.names import EnvKey, Name, OwnerRef
from schemas.project import ProjectSettings, Visibility

MAX_ENV_VALUE_BYTES = 32 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

# The same grammar as a pinned image in deployment.toml; checked here too so the API can say
# how to get a digest instead of only that one is missing.
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._\-/:]*(:[\w][\w.\-]{0,127})?@sha256:[0-9a-f]{64}$")

StatusState = Literal["deploying", "running", "failed", "stopped", "unknown"]
RowStatus = Literal["deploying", "running", "failed", "stopped", "unknown", "invalid"]
DeploymentRowStatus = Literal["deploying", "running", "failed", "stopped", "unknown", "superseded"]


def _pinned(value: str) -> str:
    if not _PINNED_IMAGE.match(value):
        raise ValueError(
            f"image {value!r} is not pinned by digest; push it first and deploy the digest the "
            "push printed ('registry/app@sha256:<64 hex>'), or resolve a tag with "
            "`skopeo inspect docker://IMAGE` — a tag can change under a running deployment"
        )
    return value


def _text(value: str) -> str:
    if "\0" in value:
        raise ValueError("value must not contain NUL characters")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("value must be valid UTF-8 text") from None
    if size > MAX_ENV_VALUE_BYTES:
        raise ValueError(f"value is {size} bytes; the limit is {MAX_ENV_VALUE_BYTES}")
    return value


def _password(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a password must be valid UTF-8 text") from None
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )
    return value


PinnedImageRef = Annotated[str, AfterValidator(_pinned)]
EnvValue = Annotated[str, AfterValidator(_text)]
Password = Annotated[str, AfterValidator(_password)]


# -- errors and operations -----------------------------------------------------------------


class ErrorBody(Payload):
    """Every error: a machine-readable code, what went wrong, and what to do about it."""

    error: str = Field(description="machine-readable code, e.g. not_found, invalid_body")
    message: str
    hint: str | None = None
    problems: list[str] | None = Field(default=None, description="one line per invalid field")
    request_id: str | None = None


class Health(Payload):
    status: Literal["ok", "unavailable"]
    reason: str | None = None


class VersionInfo(Payload):
    version: str
    api: Literal["v1"] = "v1"


# -- authentication and users --------------------------------------------------------------


class LoginRequest(Payload):
    username: str = Field(max_length=256)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(Payload):
    refresh_token: str = Field(max_length=8192)


class TokenResponse(Payload):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    refresh_expires_in: int


class OidcInfo(Payload):
    issuer: str
    client_id: str
    scopes: list[str]


class AuthConfigInfo(Payload):
    local: bool = Field(description="username/password login at POST /api/v1/auth/login")
    oidc: OidcInfo | None = None
    trusted_issuers: list[str] = Field(default_factory=list)


class Me(Payload):
    username: str
    is_admin: bool
    kind: Literal["user", "service-account"]
    teams: list[str] = Field(default_factory=list)


class UserCreate(Payload):
    username: Name
    password: Password
    admin: bool = False


class UserInfo(Payload):
    username: str
    is_admin: bool
    created_at: datetime


class PasswordChange(Payload):
    current_password: str | None = Field(
        default=None, max_length=MAX_PASSWORD_LENGTH, description="required for your own"
    )
    new_password: Password


# -- projects ------------------------------------------------------------------------------


class ProjectCreate(Payload):
    name: Name
    owner: OwnerRef | None = Field(default=None, description="default: user:<you>")
    visibility: Visibility = "public"
    settings: ProjectSettings | None = None


class ProjectUpdate(Payload):
    owner: OwnerRef | None = None
    visibility: Visibility | None = None
    settings: ProjectSettings | None = None


class ProjectRow(Payload):
    """One line of ``rise p ls``."""

    name: str
    owner: str | None
    visibility: Visibility | None
    url: str
    status: RowStatus
    deployment_id: str | None = None
    problems: list[str] = Field(default_factory=list)


class DeploymentInfo(Payload):
    id: str
    project: str
    image: str
    group: str
    state: DeploymentState
    replicas: int | None = None
    environment: str | None = None
    rollback_of: str | None = None
    created_by: str
    created_at: datetime
    status: DeploymentRowStatus
    reason: str | None = None
    commit: str | None = Field(default=None, description="the state-repo commit that wrote it")
    url: str


class ProjectDetail(ProjectRow):
    created_by: str | None = None
    created_at: datetime | None = None
    settings: ProjectSettings | None = None
    deployment: DeploymentInfo | None = None
    app_config: dict[str, Any] | None = Field(
        default=None, description="the .rise.toml last deployed"
    )
    commit: str | None = Field(default=None, description="set by writes: the new commit")


class Deleted(Payload):
    name: str
    commit: str | None


# -- teams ---------------------------------------------------------------------------------


class TeamCreate(Payload):
    name: Name
    owners: list[Name] = Field(default_factory=list, description="default: [you]")
    members: list[Name] = Field(default_factory=list)


class TeamUpdate(Payload):
    """Replace ``owners``/``members``, or add and remove names (safe under concurrency)."""

    owners: list[Name] | None = None
    members: list[Name] | None = None
    add_owners: list[Name] = Field(default_factory=list)
    remove_owners: list[Name] = Field(default_factory=list)
    add_members: list[Name] = Field(default_factory=list)
    remove_members: list[Name] = Field(default_factory=list)


class TeamInfo(Payload):
    name: str
    owners: list[str]
    members: list[str]
    commit: str | None = None


# -- deployments ---------------------------------------------------------------------------


class DeploymentCreate(Payload):
    image: PinnedImageRef | None = Field(
        default=None, description="required unless 'from' names an earlier deployment"
    )
    group: Name | None = None
    replicas: int | None = Field(default=None, ge=0, le=1000)
    environment: Name | None = Field(default=None, description="[environments.<name>]")
    from_: DeploymentId | None = Field(
        default=None, alias="from", description="redeploy this earlier deployment (rollback)"
    )
    app_config: dict[str, Any] | None = Field(
        default=None, description="the app's .rise.toml as a JSON object"
    )


class ObjectChange(Payload):
    """What a deploy would do to one Kubernetes object (``reconciler.diff.ObjectDiff``)."""

    action: Literal["create", "update", "delete", "unchanged"]
    kind: str
    namespace: str | None = None
    name: str
    before: dict[str, Any] | None = Field(default=None, description="normalised; secrets masked")
    after: dict[str, Any] | None = Field(default=None, description="normalised; secrets masked")
    unified: str = Field(description="the unified diff of before and after, as YAML")


class DeploymentDryRun(Payload):
    """The answer of ``POST .../deployments?dry_run=true``: the diff, nothing committed."""

    project: str
    image: str = Field(description="the image the deploy would run, pinned by digest")
    environment: str | None = None
    base: str | None = Field(default=None, description="the state-repo commit diffed against")
    changed: bool
    objects: list[ObjectChange]
    warnings: list[str] = Field(default_factory=list)


# -- environment ---------------------------------------------------------------------------


class EnvSet(Payload):
    value: EnvValue
    secret: bool = False


class EnvVar(Payload):
    key: str
    value: str = Field(description="'********' for a secret unless revealed")
    secret: bool
    commit: str | None = None


class EnvImport(Payload):
    vars: dict[EnvKey, EnvValue] = Field(default_factory=dict)
    secrets: dict[EnvKey, EnvValue] = Field(default_factory=dict)
    replace: bool = Field(default=False, description="drop every variable not in this import")


class EnvImported(Payload):
    set: list[str]
    removed: list[str]
    commit: str | None


# -- reviews and webhooks ------------------------------------------------------------------


class ReviewRow(Payload):
    project: str
    id: str
    branch: str


class WebhookAnswer(Payload):
    accepted: bool
    provider: Literal["github", "gitea", "gitlab"]
    event: str
    delivery: str | None = None
    reconcile: bool = Field(description="whether a fetch and reconcile were scheduled")
    duplicate: bool = False
    reason: str | None = None
