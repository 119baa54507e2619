"""``projects/<name>/project.toml``: who owns a project and how it may be deployed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.app import Quantity
from schemas.base import FileModel
from schemas.names import OwnerRef

Visibility = Literal["public", "private"]
ReviewPolicy = Literal["optional", "required"]


class ProjectSettings(FileModel):
    review: ReviewPolicy = "optional"
    approvals: int = Field(
        default=1, ge=1, le=10, description="approvals a review needs before it merges"
    )
    max_replicas: int = Field(default=10, ge=0, le=1000)
    max_cpu: Quantity | None = None
    max_memory: Quantity | None = None


class ProjectFile(FileModel):
    owner: OwnerRef
    visibility: Visibility = "public"
    created_at: datetime | None = None
    created_by: str | None = None
    settings: ProjectSettings = Field(default_factory=ProjectSettings)
