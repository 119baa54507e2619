"""``projects/<name>/deployment.toml``: the desired deployment; its git log is the history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from schemas.base import FileModel
from schemas.names import Name

DeploymentState = Literal["running", "stopped"]

# 20261122-153012-ab12: UTC time to the second, then random hex so ids stay unique within one.
_DEPLOYMENT_ID = re.compile(r"^[0-9]{8}-[0-9]{4,6}-[0-9a-f]{4,8}$")
# name[:tag]@sha256:<64 hex>; a mutable tag alone is refused so a deploy is reproducible.
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._\-/:]*(:[\w][\w.\-]{0,127})?@sha256:[0-9a-f]{64}$")


def _deployment_id(value: str) -> str:
    if not _DEPLOYMENT_ID.match(value):
        raise ValueError(f"deployment id {value!r} must look like '20261122-153012-ab12'")
    return value


def _pinned_image(value: str) -> str:
    if not _PINNED_IMAGE.match(value):
        raise ValueError(
            f"image {value!r} must be pinned by digest, e.g. 'registry/app@sha256:<64 hex>'"
        )
    return value


DeploymentId = Annotated[str, AfterValidator(_deployment_id)]
PinnedImage = Annotated[str, AfterValidator(_pinned_image)]


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
