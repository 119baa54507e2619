"""Two states of a project, rendered and compared object by object (``rise diff``'s engine).

``diff_states`` renders both sides and diffs them (secret values masked, as ``diff.py`` does
everywhere); ``diff_commits`` does it for every project that changed between two commits.
``format_report`` prints the result as ``rise diff`` does; past ``max_lines`` a project's
objects are summarised one line each with counts of changed lines, so a review of a
500-object change stays readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.diff import Obj, ObjectDiff, diff_objects, format_diff, format_summary, to_json
from reconciler.render import RenderError, render_project

if TYPE_CHECKING:
    from reconciler.render import RenderSettings
    from reconciler.secrets import SecretBox
    from reconciler.state import ProjectState, StateRepo
    from schemas import Problem


ReadLive = Callable[[list[Obj]], list[Obj]]
"""The live twins (those that exist) of rendered objects."""


@dataclass
class ProjectDiff:
    name: str
    diffs: list[ObjectDiff] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    """Why the new side cannot be rendered (nothing would be applied)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(d.action != "unchanged" for d in self.diffs)

    def to_json(self) -> dict[str, Any]:
        if self.problems:
            return {"error": [{"file": p.file, "message": p.message} for p in self.problems]}
        return {"changed": self.changed, "warnings": self.warnings, "objects": to_json(self.diffs)}


def diff_states(
    name: str,
    before: ProjectState | None,
    after: ProjectState | None,
    settings: RenderSettings,
    secrets: SecretBox | None,
    labels: tuple[str, str],
) -> ProjectDiff:
    """What changes in the cluster when ``name`` goes from ``before`` to ``after``."""
    result, desired, old = _render_sides(name, before, after, settings, secrets, labels[0])
    if desired is not None:
        result.diffs = diff_objects(desired, old, labels=labels)
    return result


def diff_with_live(
    name: str,
    before: ProjectState | None,
    after: ProjectState | None,
    read_live: ReadLive,
    settings: RenderSettings,
    secrets: SecretBox | None,
    label: str,
) -> ProjectDiff:
    """``after`` rendered against the live objects: what ``read_live`` finds of every object
    ``before`` or ``after`` renders (in that order, so deletions come in dependency order)."""
    result, desired, old = _render_sides(name, before, after, settings, secrets, "main")
    if desired is not None:
        result.diffs = diff_objects(desired, read_live(old + desired), labels=("live", label))
    return result


def _render_sides(
    name: str,
    before: ProjectState | None,
    after: ProjectState | None,
    settings: RenderSettings,
    secrets: SecretBox | None,
    before_label: str,
) -> tuple[ProjectDiff, list[Obj] | None, list[Obj]]:
    """Both renders; ``after``'s is None (and the result holds why) when it cannot be made."""
    result = ProjectDiff(name)
    try:
        desired = render_project(after, settings, secrets) if after else []
    except RenderError as exc:
        result.problems = exc.problems
        return result, None, []
    try:
        old = render_project(before, settings, secrets) if before else []
    except RenderError as exc:
        # The reconciler skipped it then, so what is live is unknown: show it all as new.
        result.warnings.append(f"{name} could not be rendered at {before_label}: {exc}")
        old = []
    return result, desired, old


def diff_commits(
    repo: StateRepo,
    old: str,
    new: str,
    names: Iterable[str],
    settings: RenderSettings,
    secrets: SecretBox | None,
) -> list[ProjectDiff]:
    labels = (old[:12], new[:12])
    return [
        diff_states(
            name, repo.project(name, old), repo.project(name, new), settings, secrets, labels
        )
        for name in names
    ]


def format_report(
    results: Iterable[ProjectDiff], color: bool = False, max_lines: int | None = None
) -> str:
    """Each changed project's diff under ``Project <name>:``; problems as ``file: message``.

    With ``max_lines``, a report longer than that summarises every object in one line.
    """
    shown = [r for r in results if r.problems or r.changed]
    text = _report(shown, lambda diffs: format_diff(diffs, color))
    if max_lines is not None and text.count("\n") > max_lines:
        text = _report(shown, lambda diffs: format_summary(diffs, color))
    return text


def _report(results: list[ProjectDiff], show: Callable[[list[ObjectDiff]], str]) -> str:
    out: list[str] = []
    for result in results:
        if result.problems:
            out.append(f"Project {result.name} cannot be rendered:")
            out.extend(str(p) for p in result.problems)
        else:
            out.append(f"Project {result.name}:")
            out.append(show(result.diffs).rstrip("\n"))
    return "\n".join(out) + "\n" if out else ""
