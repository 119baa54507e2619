"""Building and pushing images from the CLI (SPEC §7).

``plan_build`` decides how to build a folder, a ``Backend`` builds it, ``push_image`` pushes
it with credentials fetched for that push and returns it pinned by digest; ``pin_image`` and
``resolve_digest`` pin a pre-built image (``--image``)::

    plan = plan_build(Path("."), BuildOptions(), os.environ)
    backend = get_backend(plan.backend, os.environ)
    image = backend.build(plan.spec, log=print)
    pushed = push_image(backend, image, "web", ServerCredentials(url, token))
    pushed.pinned  # "registry.example.com/web@sha256:…"
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Name -> module. Loaded on first use (PEP 562): ``rise d c --image`` needs the push and
# reference code, not the build planner and the schemas it imports.
_EXPORTS = {
    **dict.fromkeys(
        (
            "Backend",
            "BuildError",
            "BuildSpec",
            "BuiltImage",
            "Login",
            "ToolMissing",
            "TransientError",
            "get_backend",
        ),
        "cli.images.backends",
    ),
    **dict.fromkeys(("BuildOptions", "BuildPlan", "plan_build"), "cli.images.detect"),
    **dict.fromkeys(
        (
            "CredentialsSource",
            "PushCredentials",
            "PushedImage",
            "ServerCredentials",
            "pin_image",
            "push_image",
            "session_expiry_warning",
            "temporary_login",
        ),
        "cli.images.push",
    ),
    **dict.fromkeys(
        ("ImageReference", "parse_reference", "resolve_digest"), "cli.images.reference"
    ),
    "Retry": "cli.images.retry",
}

if TYPE_CHECKING:
    from cli.images.backends import (
        Backend,
        BuildError,
        BuildSpec,
        BuiltImage,
        Login,
        ToolMissing,
        TransientError,
        get_backend,
    )
    from cli.images.detect import BuildOptions, BuildPlan, plan_build
    from cli.images.push import (
        CredentialsSource,
        PushCredentials,
        PushedImage,
        ServerCredentials,
        pin_image,
        push_image,
        session_expiry_warning,
        temporary_login,
    )
    from cli.images.reference import ImageReference, parse_reference, resolve_digest
    from cli.images.retry import Retry


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cli.images' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = [
    "Backend",
    "BuildError",
    "BuildOptions",
    "BuildPlan",
    "BuildSpec",
    "BuiltImage",
    "CredentialsSource",
    "ImageReference",
    "Login",
    "PushCredentials",
    "PushedImage",
    "Retry",
    "ServerCredentials",
    "ToolMissing",
    "TransientError",
    "get_backend",
    "parse_reference",
    "pin_image",
    "plan_build",
    "push_image",
    "resolve_digest",
    "session_expiry_warning",
    "temporary_login",
]
