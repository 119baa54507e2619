"""Request and response bodies of the rise server's REST API (``/api/v1``).

One source of truth: the server validates requests and serialises responses with these models,
and generates ``/api/v1/openapi.json`` from them. Requests reject unknown keys (a mistyped key
gets a close-match suggestion); responses are what the CLI reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema

from schemas.base import Payload, RequestBody
from schemas.deployment import (
    MAX_IMAGE_REFERENCE,
    PINNED_IMAGE_PATTERN,
    DeploymentId,
    DeploymentState,
    image_problem,
)
from schemas.names import EnvKey, Name, OwnerRef, env_map
from schemas.project import ProjectSettings, Visibility

MAX_ENV_VALUE_CHARS = 32 * 1024
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


StatusState = Literal["deploying", "running", "failed", "stopped", "unknown"]
RowStatus = Literal["deploying", "running", "failed", "stopped", "unknown", "invalid"]
DeploymentRowStatus = Literal[
    "deploying", "running", "failed", "stopped", "unknown", "superseded", "in_review"
]


def _pinned(value: str) -> str:
    """The grammar of deployment.toml's image; the message says how to get a digest."""
    if image_problem(value):
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
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("value must be valid UTF-8 text") from None
    # Counted in characters, as the OpenAPI document's maxLength counts them.
    if len(value) > MAX_ENV_VALUE_CHARS:
        raise ValueError(
            f"value is {len(value)} characters long; the limit is {MAX_ENV_VALUE_CHARS}"
        )
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


PinnedImageRef = Annotated[
    str,
    AfterValidator(_pinned),
    WithJsonSchema(
        {"type": "string", "pattern": PINNED_IMAGE_PATTERN, "maxLength": MAX_IMAGE_REFERENCE}
    ),
]
_ENV_VALUE_SCHEMA = {"type": "string", "pattern": "^[^\\u0000]*$", "maxLength": MAX_ENV_VALUE_CHARS}
EnvValue = Annotated[str, AfterValidator(_text), WithJsonSchema(_ENV_VALUE_SCHEMA)]
Password = Annotated[
    str,
    AfterValidator(_password),
    WithJsonSchema(
        {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}
    ),
]


MODEL_KEY = "x-rise-model"
"""Marks a schema the OpenAPI document replaces by a reference to that model (app_config is
parsed as a dict so its problems name .rise.toml, but documented as AppConfig)."""


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


class LoginRequest(RequestBody):
    username: str = Field(max_length=256)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(RequestBody):
    refresh_token: str = Field(max_length=8192)


class TokenResponse(Payload):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    refresh_expires_in: int


class OidcInfo(Payload):
    """An OpenID provider people sign in through (rise brokers it: the CLI never talks to
    it; ``rise login`` shows its sign-in on the device login page)."""

    name: str
    display_name: str
    issuer: str
    sign_in_url: str = Field(description="starts the sign-in in a browser (?next=/ui/...)")


class AuthConfigInfo(Payload):
    local: bool = Field(description="username/password login at POST /api/v1/auth/login")
    oidc: list[OidcInfo] = Field(default_factory=list)
    trusted_issuers: list[str] = Field(default_factory=list)
    device_authorization_endpoint: str | None = Field(
        default=None, description="where 'rise login' starts the device flow (RFC 8628)"
    )
    authorization_endpoint: str | None = Field(
        default=None,
        description="where 'rise login --browser' sends the browser (RFC 6749 with PKCE)",
    )


class DeviceAuthorization(Payload):
    """The answer of ``POST /oauth/device/code`` (RFC 8628 section 3.2)."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class OAuthError(Payload):
    """An OAuth error answer (RFC 6749 section 5.2), e.g. ``authorization_pending``."""

    error: str
    error_description: str | None = None


class Me(Payload):
    username: str
    is_admin: bool
    kind: Literal["user", "service-account"]
    teams: list[str] = Field(default_factory=list)


class UserCreate(RequestBody):
    username: Name
    password: Password
    admin: bool = False


class UserInfo(Payload):
    username: str
    is_admin: bool
    created_at: datetime
    provider: str | None = Field(
        default=None, description="the OpenID provider the user signs in through; null: local"
    )


class PasswordChange(RequestBody):
    current_password: str | None = Field(
        default=None, max_length=MAX_PASSWORD_LENGTH, description="required for your own"
    )
    new_password: Password


# -- projects ------------------------------------------------------------------------------


class ProjectCreate(RequestBody):
    name: Name
    owner: OwnerRef | None = Field(default=None, description="default: user:<you>")
    visibility: Visibility = "public"
    settings: ProjectSettings | None = None


class ProjectUpdate(RequestBody):
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
    review: str | None = Field(
        default=None, description="the review it waits on (branch review/<project>/<id>)"
    )
    approved_by: list[str] = Field(
        default_factory=list, description="who approved its review, when it had one"
    )


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


class TeamCreate(RequestBody):
    name: Name
    owners: list[Name] = Field(default_factory=list, description="default: [you]")
    members: list[Name] = Field(default_factory=list)


def _some_owner(owners: list[str] | None) -> list[str] | None:
    if owners is not None and not owners:
        raise ValueError("a team needs at least one owner; add the new owner before removing one")
    return owners


class TeamUpdate(RequestBody):
    """Replace ``owners``/``members``, or add and remove names (safe under concurrency)."""

    owners: Annotated[list[Name] | None, AfterValidator(_some_owner)] = Field(
        default=None, json_schema_extra={"minItems": 1}
    )
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


class DeploymentCreate(RequestBody):
    """Exactly one of ``image`` and ``from``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        strict=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["image"], "properties": {"image": {"type": "string"}}},
                {"required": ["from"], "properties": {"from": {"type": "string"}}},
            ]
        },
    )

    image: PinnedImageRef | None = Field(
        default=None, description="required unless 'from' names an earlier deployment"
    )
    group: Name | None = None
    replicas: int | None = Field(default=None, ge=0, le=1000)
    environment: Name | None = Field(default=None, description="[environments.<name>]")
    from_: DeploymentId | None = Field(
        default=None, alias="from", description="redeploy this earlier deployment (rollback)"
    )
    app_config: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"anyOf": [{"type": "object", MODEL_KEY: "AppConfig"}, {"type": "null"}]}),
    ] = Field(default=None, description="the app's .rise.toml as a JSON object")
    review: bool = Field(
        default=False,
        description="put it on a review branch instead of deploying (rise d c --review)",
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
    compared_with: Literal["live", "main"] = Field(
        default="main",
        description="the diff's left side: the live objects (a runtime that can read them), "
        "or the render of the state repository's main branch",
    )
    changed: bool
    objects: list[ObjectChange]
    warnings: list[str] = Field(default_factory=list)


TimelineStepName = Literal["committed", "applied", "rolling_out", "healthy", "failed", "stopped"]


class TimelineStep(Payload):
    step: TimelineStepName
    at: datetime
    reason: str | None = Field(default=None, description="why it failed (or stopped)")


class DeploymentTimeline(Payload):
    """``GET .../deployments/{id}/timeline``: from the commit to healthy or failed."""

    project: str
    id: str
    status: DeploymentRowStatus
    reason: str | None = None
    commit: str | None = Field(default=None, description="the state-repo commit that made it")
    steps: list[TimelineStep] = Field(
        description="committed (from git), then what the reconcile loop saw, oldest first; "
        "in memory: a restarted server knows the loop's steps from its start on"
    )


class RenderedObject(Payload):
    kind: str
    namespace: str | None = None
    name: str
    manifest: str = Field(description="the object as rendered, as YAML; secret values masked")


class DeploymentManifests(Payload):
    """``GET .../deployments/{id}/manifests``: what the deployment's commit renders, and the
    diff from the commit before it (what the deployment changed)."""

    project: str
    id: str
    commit: str
    base: str | None = Field(description="the commit before it: the diff's left side")
    objects: list[RenderedObject]
    changes: list[ObjectChange]
    problems: list[str] = Field(
        default_factory=list, description="why the commit could not be rendered"
    )


# -- environment ---------------------------------------------------------------------------


class EnvSet(RequestBody):
    value: EnvValue
    secret: bool = False


class EnvVar(Payload):
    key: str
    value: str = Field(description="'********' for a secret unless revealed")
    secret: bool
    commit: str | None = None


class EnvImport(RequestBody):
    vars: Annotated[dict[EnvKey, EnvValue], env_map(_ENV_VALUE_SCHEMA)] = Field(
        default_factory=dict
    )
    secrets: Annotated[dict[EnvKey, EnvValue], env_map(_ENV_VALUE_SCHEMA)] = Field(
        default_factory=dict
    )
    replace: bool = Field(default=False, description="drop every variable not in this import")


class EnvImported(Payload):
    set: list[str]
    removed: list[str]
    commit: str | None


# -- reviews and webhooks ------------------------------------------------------------------


ReviewState = Literal["open", "stale", "rejected", "merged"]


class ReviewRow(Payload):
    """One line of ``rise review ls``."""

    project: str
    id: str
    branch: str
    state: ReviewState
    author: str = Field(description="who asked for the deployment")
    created_at: datetime
    subject: str = Field(description="the first line of the review's commit message")
    image: str | None = None
    approvals: list[str] = Field(default_factory=list)
    approvals_required: int = 1
    rejected_by: str | None = None
    reason: str | None = None
    stale_by: str | None = Field(
        default=None, description="the main commit with a newer deployment of the project"
    )
    head: str = Field(description="the review branch's tip commit")
    base: str = Field(description="the main commit the review started from")
    commit: str | None = Field(default=None, description="set when merged: the main commit")


class ReviewDetail(ReviewRow):
    """``rise review show``: the row, plus what approving would change in the cluster."""

    compared_with: str = Field(description="what the diff's left side is: main's render, or live")
    changed: bool
    diff: str = Field(description="rise diff's text, secret values masked")
    objects: list[dict[str, Any]] = Field(default_factory=list)
    problems: list[str] = Field(
        default_factory=list, description="why the review cannot be rendered"
    )


class ReviewReject(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class WebhookAnswer(Payload):
    accepted: bool
    provider: Literal["github", "gitea", "gitlab"]
    event: str
    delivery: str | None = None
    reconcile: bool = Field(description="whether a fetch and reconcile were scheduled")
    duplicate: bool = False
    reason: str | None = None
