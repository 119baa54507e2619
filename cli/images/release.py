"""The image half of a deploy: build the app folder, push it to the project's repository with
credentials fetched for this push, and return it pinned by digest; or pin a pre-built image.

The steps are announced through ``announce`` (a context manager per long step: the command
decides how a step looks, e.g. a spinner with elapsed time on a terminal), and the tools'
own output goes to ``log``. Nothing here talks to the deployment API: a build or push that
fails or is interrupted leaves the state repository untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from cli.images.backends import ALIASES, Log, get_backend
from cli.images.push import PUSH, CredentialsSource, pin_image, push_image
from cli.images.reference import ImageReference, parse_reference
from cli.images.retry import quiet

Announce = Callable[[str], AbstractContextManager[object]]
LATEST = "latest"


def build_and_push(
    app_dir: Path,
    project: str,
    credentials: CredentialsSource,
    announce: Announce,
    *,
    backend: str | None = None,
    environ: Mapping[str, str],
    log: Log = quiet,
) -> ImageReference:
    """Build ``app_dir`` as ``<registry>/<repository>:latest``, push it, pin it by digest."""
    from cli.images.detect import BuildOptions, load_app_config, plan_build  # imports schemas

    plan = plan_build(app_dir, BuildOptions(backend=backend), environ)
    # Asking for credentials before a long build also checks the caller may push at all.
    creds = credentials(project, PUSH)
    destination = f"{creds.registry}/{creds.repository}:{LATEST}"
    engine = get_backend(plan.backend, environ)
    shown = _shown_backend(plan.backend, load_app_config(app_dir).build.backend, backend)
    with announce(f"Building container image '{destination}' using {shown}..."):
        image = engine.build(replace(plan.spec, tag=destination), log)
    with announce(f"Pushing container image to {creds.registry}..."):
        pushed = push_image(
            engine, image, project, credentials, tag=LATEST, log=log, environ=environ
        )
    return pushed.reference


def pinned_image(
    reference: str, project: str, credentials: CredentialsSource, announce: Announce
) -> ImageReference:
    """``--image``: an image already pinned by digest as it is; a tag resolved to the digest
    the registry serves for it now (with the project's pull credentials for its own
    registry), so the deployment never records a tag that can move."""
    ref = parse_reference(reference)
    if ref.digest is not None:
        return ref
    with announce(f"Resolving '{reference}' to its digest..."):
        return pin_image(reference, project, credentials)


def _shown_backend(chosen: str, configured: str, flag: str | None) -> str:
    """The backend's name as the user wrote it (``buildpacks``) when it is an alias."""
    for name in (flag, configured):
        if name and ALIASES.get(name) == chosen:
            return name
    return chosen
