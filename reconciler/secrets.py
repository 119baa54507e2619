"""Secret env values: AES-256-GCM, encrypted before they reach git (SPEC §8).

The associated data binds a ciphertext to its project and key name, so a value copied into
another project's env.toml, or under another key, fails to decrypt instead of leaking.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
MASK = "********"


class SecretError(ValueError):
    """A ciphertext that cannot be decrypted with this key for this project and name."""


class SecretBox:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the secrets key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    @classmethod
    def generate_key(cls) -> bytes:
        return AESGCM.generate_key(bit_length=256)

    @classmethod
    def from_file(cls, path: str | Path, create: bool = False) -> SecretBox:
        """Load the key from ``path`` (base64); with ``create``, write a new one (mode 0600)."""
        target = Path(path)
        if not target.exists():
            if not create:
                raise FileNotFoundError(f"secrets key {target} does not exist")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(base64.b64encode(cls.generate_key()).decode() + "\n")
        return cls(base64.b64decode(target.read_text().strip()))

    def encrypt(self, project: str, name: str, value: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(project, name))
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, project: str, name: str, token: str) -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise SecretError(f"secret {name!r} of {project!r}: unknown format {version!r}")
        try:
            raw = base64.b64decode(body, validate=True)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(project, name))
        except (InvalidTag, ValueError):
            raise SecretError(
                f"secret {name!r} of project {project!r} cannot be decrypted with this server's "
                "key (wrong key, or the value was copied from another project or key); set it "
                f"again with `rise env set {project} {name} --secret`"
            ) from None
        return plain.decode("utf-8")


def _aad(project: str, name: str) -> bytes:
    return f"rise:{_VERSION}:{project}:{name}".encode()
