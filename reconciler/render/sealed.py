"""Secret values travel through rendering as opaque tokens and are revealed last.

Templates see a token in place of each secret value: the env secret's ciphertext from
``env.toml``, or a digest for the image pull credentials. The spec-hash and the schema
validation work on that sealed form, so neither a content hash (which a diff shows) nor a
validation message can ever be derived from a plaintext value. Only after both are done are
the tokens in Secrets' ``data`` replaced by the base64 value, or by the mask when there is no
key to decrypt with.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from reconciler.secrets import MASK


class Sealed:
    """The tokens of one render and the values they stand for (None: keep them masked)."""

    def __init__(self) -> None:
        self._values: dict[str, str | None] = {}

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, token: str, plain: str | None) -> str:
        self._values[token] = plain
        return token

    def add_digest(self, plain: str, reveal: bool) -> str:
        """A stable token for a value that has no ciphertext of its own."""
        token = "sealed:sha256:" + hashlib.sha256(plain.encode()).hexdigest()
        return self.add(token, plain if reveal else None)

    def reveal(self, objects: list[dict[str, Any]]) -> None:
        """Replace the tokens in every Secret's ``data`` and ``stringData``, in place."""
        for obj in objects:
            if obj.get("kind") != "Secret":
                continue
            for field, encode in (("data", True), ("stringData", False)):
                values = obj.get(field)
                if isinstance(values, dict):
                    for key, value in values.items():
                        if isinstance(value, str) and value in self._values:
                            values[key] = self._plain(value, encode)

    def _plain(self, token: str, encode: bool) -> str:
        plain = self._values[token]
        if plain is None:
            return MASK
        return base64.b64encode(plain.encode()).decode() if encode else plain
