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

from cli.build.backends import (
    Backend,
    BuildError,
    BuildSpec,
    BuiltImage,
    Login,
    ToolMissing,
    TransientError,
    get_backend,
)
from cli.build.detect import BuildOptions, BuildPlan, plan_build
from cli.build.push import (
    CredentialsSource,
    PushCredentials,
    PushedImage,
    ServerCredentials,
    pin_image,
    push_image,
    session_expiry_warning,
    temporary_login,
)
from cli.build.reference import ImageReference, parse_reference, resolve_digest
from cli.build.retry import Retry

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
