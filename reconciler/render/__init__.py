"""Render a project's state into validated Kubernetes objects (docs/templates.md).

``render_project(state, settings, secrets)`` is the whole job: the template context is built
in ``context``, the templates in ``templates/`` (or an operator's override folder) are rendered
through an escaping finalizer in ``engine``, and every object is checked to stay in the
project's namespace, hashed (``rise.dev/spec-hash``) and validated against the Kubernetes
OpenAPI schema before it is returned.
"""

from reconciler.render.engine import (
    SPEC_HASH,
    TEMPLATES_DIR,
    render_project,
    render_snapshot,
    spec_hash,
)
from reconciler.render.settings import PullSecret, RenderError, RenderSettings, fit_name

__all__ = [
    "SPEC_HASH",
    "TEMPLATES_DIR",
    "PullSecret",
    "RenderError",
    "RenderSettings",
    "fit_name",
    "render_project",
    "render_snapshot",
    "spec_hash",
]
