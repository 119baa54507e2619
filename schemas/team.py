"""``teams/<team>.toml``: who owns a team and who belongs to it."""

from __future__ import annotations

from pydantic import Field, model_validator

from schemas.base import FileModel
from schemas.names import Name


class TeamFile(FileModel):
    owners: list[Name] = Field(default_factory=list)
    members: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_owner(self) -> TeamFile:
        if not self.owners:
            raise ValueError("a team needs at least one owner")
        return self

    def includes(self, user: str) -> bool:
        return user in self.owners or user in self.members
