"""Real tools the tests need: in CI a missing one is a failure, elsewhere a skip."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str, install_hint: str = "") -> str:
    """The path of executable ``name``; fail in CI, skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed{f' ({install_hint})' if install_hint else ''}"
    if in_ci():
        pytest.fail(f"{message}; .ci/run must install it")
    pytest.skip(message)
