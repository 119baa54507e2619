"""``projects/<name>/env.toml``: variables; secret values are ciphertext, never plain."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from schemas.base import FileModel
from schemas.names import EnvKey

# v1:<base64 of nonce(12) || AES-256-GCM ciphertext+tag>; written only by rise's encryptor.
_CIPHERTEXT = re.compile(r"^v1:[A-Za-z0-9+/]{36,}={0,2}$")


def _ciphertext(value: str) -> str:
    if not _CIPHERTEXT.match(value):
        raise ValueError(
            "secret values must be ciphertext written by rise ('v1:...'); "
            "set them with `rise env set PROJECT KEY --secret`, never in clear"
        )
    return value


Ciphertext = Annotated[str, AfterValidator(_ciphertext)]


class EnvFile(FileModel):
    vars: dict[EnvKey, str] = Field(default_factory=dict)
    secrets: dict[EnvKey, Ciphertext] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_key_in_both(self) -> EnvFile:
        both = sorted(set(self.vars) & set(self.secrets))
        if both:
            raise ValueError(f"keys {both} are both plain and secret; keep one")
        return self
