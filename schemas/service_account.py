"""``service-accounts/<project>/<name>.toml``: CI identities matched by token claims."""

from __future__ import annotations

from pydantic import Field, model_validator

from schemas.base import FileModel


class ServiceAccountFile(FileModel):
    issuer: str = Field(description="the trusted issuer's URL (the token's iss claim)")
    claims: dict[str, str] = Field(
        description="claims the token must carry with exactly these values, e.g. repository"
    )
    created_by: str | None = None

    @model_validator(mode="after")
    def _claims_constrain(self) -> ServiceAccountFile:
        if not self.issuer.startswith("https://") and not self.issuer.startswith("http://127."):
            raise ValueError(f"issuer {self.issuer!r} must be an https:// URL")
        if not self.claims:
            raise ValueError("at least one claim matcher is required, or any token would match")
        return self
