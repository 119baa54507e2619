"""Base classes: declarative files are strict; API payloads accept JSON's looser types."""

from pydantic import BaseModel, ConfigDict


class FileModel(BaseModel):
    """A TOML file of the state repo or an app: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Payload(BaseModel):
    """A JSON API payload: unknown keys are errors; strings for enums and dates are fine."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RequestBody(Payload):
    """A request body: JSON types exactly as the OpenAPI document states them (no ``"1"`` for
    1, no ``0`` for false), so the document and the API accept the same bodies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)
