"""What a runtime should hold: projects rendered into ``Desired`` records, with a cache.

``Renderer`` remembers each project's objects by the git tree id of its folder, so a resync
with no git change renders nothing. It refuses to render secret values masked for a runtime
that applies them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from reconciler.render import RenderError, RenderSettings, render_project
from reconciler.runtimes.base import Desired
from reconciler.state import ProjectState, layout
from schemas import Problem

if TYPE_CHECKING:
    from reconciler.secrets import SecretBox


class Renderer:
    """Renders projects, remembering each project's last result by a key of its content.

    A full resync with no git change then re-renders nothing. Results are ``Desired``
    records (compact JSON), not dicts, so 10,000 projects fit the memory budget.
    """

    def __init__(self, settings: RenderSettings, secrets: SecretBox | None, *, decrypt: bool):
        self.settings = settings
        self.secrets = secrets if decrypt else None
        self._needs_key = decrypt
        self._cache: dict[str, tuple[str, tuple[Desired, ...] | RenderError]] = {}
        self._lock = threading.Lock()
        self.renders = 0

    def render(self, state: ProjectState, key: str) -> tuple[Desired, ...]:
        """The desired objects of a valid project; RenderError when it cannot be rendered."""
        with self._lock:
            hit = self._cache.get(state.name)
        if hit is None or hit[0] != key:
            hit = (key, self._render(state))
            with self._lock:
                self._cache[state.name] = hit
                self.renders += 1
        if isinstance(hit[1], RenderError):
            raise hit[1]
        return hit[1]

    def _render(self, state: ProjectState) -> tuple[Desired, ...] | RenderError:
        if self._needs_key and self.secrets is None:
            # Rendering without the key masks secret values: never apply those.
            if state.env and state.env.secrets:
                file = layout.project_file(state.name, "env.toml")
                return RenderError([Problem(file, f"has secret values, {_NO_KEY}")])
            if self.settings.pull_secret is not None and state.deployment is not None:
                return RenderError(
                    [Problem("server config", f"has an image pull secret, {_NO_KEY}")]
                )
        try:
            return tuple(Desired(obj) for obj in render_project(state, self.settings, self.secrets))
        except RenderError as exc:
            return exc

    def forget(self, project: str) -> None:
        with self._lock:
            self._cache.pop(project, None)

    def retain(self, projects: Iterable[str]) -> None:
        keep = set(projects)
        with self._lock:
            for name in [n for n in self._cache if n not in keep]:
                del self._cache[name]


_NO_KEY = (
    "but this reconciler has no secrets key to apply it with; give it the server's key "
    "(rise reconcile --secrets-key FILE, or secrets_key_file in the server config)"
)


# -- wiring ---------------------------------------------------------------------------------
