"""``projects/<name>/deployment.toml``: the desired deployment; its git log is the history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from schemas.base import FileModel
from schemas.names import Name

DeploymentState = Literal["running", "stopped"]

# 20261122-153012-ab12: UTC time to the second, then random hex so ids stay unique within one.
DEPLOYMENT_ID_PATTERN = r"^[0-9]{8}-[0-9]{4,6}-[0-9a-f]{4,8}$"
_DEPLOYMENT_ID = re.compile(DEPLOYMENT_ID_PATTERN)
# The OCI distribution reference grammar (distribution/reference), with the digest required:
# name[:tag]@sha256:<64 hex>. A mutable tag alone is refused so a deploy is reproducible.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PINNED_IMAGE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*(?::[\w][\w.-]{{0,127}})?"
    r"@sha256:[0-9a-f]{64}$"
)
# The grammar's 255-character name, plus "@sha256:<64 hex>": a longer reference has a longer
# name, or a tag that leaves less room for it.
MAX_IMAGE_REFERENCE = 255 + len("@sha256:") + 64
_PINNED_IMAGE = re.compile(PINNED_IMAGE_PATTERN)


def image_problem(value: str) -> str | None:
    """Why ``value`` is not a digest-pinned OCI image reference, or None."""
    if len(value) > MAX_IMAGE_REFERENCE:
        return (
            f"image reference is {len(value)} characters long; the limit is "
            f"{MAX_IMAGE_REFERENCE} (a name of at most 255, its tag and its digest)"
        )
    if not _PINNED_IMAGE.fullmatch(value):
        return (
            f"image {value!r} must be pinned by digest and follow the OCI reference grammar "
            "(lower-case path, optional registry host and tag), "
            "e.g. 'registry.example.com/team/app@sha256:<64 hex>'"
        )
    return None


def _deployment_id(value: str) -> str:
    if not _DEPLOYMENT_ID.fullmatch(value):
        raise ValueError(f"deployment id {value!r} must look like '20261122-153012-ab12'")
    return value


def _pinned_image(value: str) -> str:
    problem = image_problem(value)
    if problem:
        raise ValueError(problem)
    return value


DeploymentId = Annotated[
    str,
    AfterValidator(_deployment_id),
    WithJsonSchema({"type": "string", "pattern": DEPLOYMENT_ID_PATTERN}),
]
PinnedImage = Annotated[
    str,
    AfterValidator(_pinned_image),
    WithJsonSchema(
        {"type": "string", "pattern": PINNED_IMAGE_PATTERN, "maxLength": MAX_IMAGE_REFERENCE}
    ),
]


class DeploymentFile(FileModel):
    id: DeploymentId
    image: PinnedImage
    group: Name = "default"
    state: DeploymentState = "running"
    replicas: int | None = Field(default=None, ge=0, le=1000)
    created_by: str
    created_at: datetime
    rollback_of: DeploymentId | None = Field(
        default=None, description="the deployment this one restores (rise d c --from)"
    )
    environment: Name | None = None
