"""Names of projects, teams, users and service accounts.

Every name ends up in a directory of the state repository, a Kubernetes object name and a
hostname, so one rule serves all three: an RFC 1123 label of at most 63 characters. Two
consecutive hyphens are reserved because hostnames such as ``xn--...`` are IDNA (punycode)
labels, and a project must not be able to claim one.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema

MAX_NAME_LENGTH = 63
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def name_problem(value: str, what: str = "name") -> str | None:
    """Return why ``value`` is not a valid name, or None when it is."""
    if not value:
        return f"{what} must not be empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"{what} {value!r} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}"
    if "/" in value or "\\" in value or value in {".", ".."} or "\0" in value:
        return f"{what} {value!r} may not contain path separators or be '.' or '..'"
    if not _LABEL.fullmatch(value):
        lowered = value.lower()
        hint = f" (try {lowered!r})" if _LABEL.fullmatch(lowered) and "--" not in lowered else ""
        return (
            f"{what} {value!r} must be lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit{hint}"
        )
    if "--" in value:
        return f"{what} {value!r} may not contain '--' (reserved for punycode hostnames)"
    return None


def validate_name(value: str, what: str = "name") -> str:
    """Return ``value`` when it is a valid name; raise ValueError saying why not."""
    problem = name_problem(value, what)
    if problem:
        raise ValueError(problem)
    return value


NAME_JSON_SCHEMA = {
    "type": "string",
    "pattern": r"^(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "maxLength": MAX_NAME_LENGTH,
    "description": "an RFC 1123 label: lower-case letters, digits and '-', at most 63",
}
Name = Annotated[str, AfterValidator(validate_name), WithJsonSchema(NAME_JSON_SCHEMA)]

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ENV_KEY_LENGTH = 253


def validate_env_key(value: str) -> str:
    if not _ENV_KEY.fullmatch(value) or len(value) > MAX_ENV_KEY_LENGTH:
        raise ValueError(
            f"environment variable name {value!r} must match [A-Za-z_][A-Za-z0-9_]* "
            f"(at most {MAX_ENV_KEY_LENGTH} characters)"
        )
    return value


ENV_KEY_JSON_SCHEMA = {
    "type": "string",
    "pattern": _ENV_KEY.pattern,
    "maxLength": MAX_ENV_KEY_LENGTH,
}
EnvKey = Annotated[str, AfterValidator(validate_env_key), WithJsonSchema(ENV_KEY_JSON_SCHEMA)]


def env_map(value_schema: dict[str, object]) -> WithJsonSchema:
    """The JSON schema of an env table: every key an env name, every value ``value_schema``
    (pydantic's own says nothing of keys that do not match, which the model refuses)."""
    return WithJsonSchema(
        {
            "type": "object",
            "propertyNames": ENV_KEY_JSON_SCHEMA,
            "additionalProperties": value_schema,
        }
    )


OwnerKind = Literal["user", "team"]


class Owner(BaseModel):
    """``user:<name>`` or ``team:<name>``; serialised as that string."""

    model_config = ConfigDict(frozen=True)

    kind: OwnerKind
    name: str

    @classmethod
    def parse(cls, value: str) -> Owner:
        kind, sep, name = value.partition(":")
        if not sep or kind not in ("user", "team"):
            raise ValueError(f"owner {value!r} must be 'user:<name>' or 'team:<name>'")
        validate_name(name, f"{kind} name")
        return cls(kind=kind, name=name)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def _parse_owner(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("owner must be a string such as 'team:devops' or 'user:niklas'")
    return str(Owner.parse(value))


OwnerRef = Annotated[
    str,
    AfterValidator(_parse_owner),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(user|team):(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maxLength": len("team:") + MAX_NAME_LENGTH,
        }
    ),
]
