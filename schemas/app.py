"""``.rise.toml``: the app's own configuration (SPEC §4)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from schemas.base import FileModel
from schemas.errors import did_you_mean
from schemas.names import NAME_JSON_SCHEMA, EnvKey, Name, env_map

BuildBackend = Literal[
    "auto", "docker", "buildah", "podman", "pack", "buildpacks", "nixpacks", "railpack"
]

# Kubernetes resource quantities: "250m", "0.5", "512Mi", "1G".
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)


MAX_QUANTITY_LENGTH = 32


def _quantity(value: str) -> str:
    if len(value) > MAX_QUANTITY_LENGTH or not _QUANTITY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity (examples: '250m', '0.5', '512Mi', '1Gi')"
        )
    return value


Quantity = Annotated[
    str,
    AfterValidator(_quantity),
    WithJsonSchema(
        {"type": "string", "pattern": QUANTITY_PATTERN, "maxLength": MAX_QUANTITY_LENGTH}
    ),
]


def _http_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"health path {value!r} must start with '/' and contain no spaces")
    return value


HttpPath = Annotated[
    str, AfterValidator(_http_path), WithJsonSchema({"type": "string", "pattern": r"^/\S*$"})
]
BuildArg = Annotated[str, WithJsonSchema({"type": "string", "pattern": "="})]


class Build(FileModel):
    backend: BuildBackend = "auto"
    builder: str | None = None
    buildpacks: list[str] = Field(default_factory=list)
    args: list[BuildArg] = Field(default_factory=list, description="build arguments, KEY=VALUE")
    dockerfile: str | None = None
    context: str | None = None
    platform: str | None = None

    @model_validator(mode="after")
    def _args_are_pairs(self) -> Build:
        for arg in self.args:
            if "=" not in arg:
                raise ValueError(f"build arg {arg!r} must be KEY=VALUE")
        return self


class Health(FileModel):
    path: HttpPath = "/"
    initial_delay: int = Field(default=0, ge=0, le=3600)


class Deploy(FileModel):
    replicas: int = Field(default=1, ge=0, le=100)
    cpu: Quantity | None = None
    memory: Quantity | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    health: Health | None = None
    command: list[str] | None = None
    args: list[str] | None = None


class DeployOverride(FileModel):
    """``[environments.<name>.deploy]``: only the keys given replace the base ones."""

    replicas: int | None = Field(default=None, ge=0, le=100)
    cpu: Quantity | None = None
    memory: Quantity | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    health: Health | None = None
    command: list[str] | None = None
    args: list[str] | None = None


class Environment(FileModel):
    env: Annotated[dict[EnvKey, str], env_map({"type": "string"})] = Field(default_factory=dict)
    deploy: DeployOverride | None = None


class AppConfig(FileModel):
    """The app's ``.rise.toml``; ``project = "name"`` and ``[project] name = "name"`` both work."""

    project: Annotated[
        Name | None,
        WithJsonSchema(
            {
                "anyOf": [
                    NAME_JSON_SCHEMA,
                    {
                        "type": "object",
                        "properties": {"name": NAME_JSON_SCHEMA},
                        "required": ["name"],
                        "additionalProperties": False,
                    },
                    {"type": "null"},
                ]
            }
        ),
    ] = None
    version: Literal[1] = 1
    build: Build = Field(default_factory=Build)
    deploy: Deploy = Field(default_factory=Deploy)
    env: Annotated[dict[EnvKey, str], env_map({"type": "string"})] = Field(default_factory=dict)
    environments: dict[Name, Environment] = Field(
        # A key that is no name is refused, so the schema says so (pydantic's leaves it open).
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},
    )

    @model_validator(mode="before")
    @classmethod
    def _project_table(cls, data: object) -> object:
        """Accept ``[project] name = "web"`` as the same thing as ``project = "web"``."""
        if isinstance(data, dict) and isinstance(data.get("project"), dict):
            table = data["project"]
            unknown = sorted(set(table) - {"name"})
            if unknown:
                raise ValueError(
                    f"unknown key {unknown[0]!r} in [project]{did_you_mean(unknown[0], ['name'])}"
                )
            if "name" not in table:
                raise ValueError("missing required key 'name' in [project]")
            data = {**data, "project": table["name"]}
        return data

    def for_environment(self, name: str | None) -> AppConfig:
        """The config with ``[environments.<name>]`` applied; KeyError names the choices."""
        if name is None:
            return self
        if name not in self.environments:
            raise KeyError(
                f"environment {name!r} is not defined in .rise.toml"
                f"{did_you_mean(name, self.environments)}"
            )
        override = self.environments[name]
        deploy = self.deploy.model_copy(
            update=override.deploy.model_dump(exclude_none=True) if override.deploy else {}
        )
        return self.model_copy(update={"env": {**self.env, **override.env}, "deploy": deploy})
