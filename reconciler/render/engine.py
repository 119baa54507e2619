"""Templates → parsed, checked, hashed and validated Kubernetes objects.

Every ``{{ value }}`` goes through ``yaml_value``: JSON (which is YAML) with the characters
YAML would treat as line breaks escaped, so a value is always exactly one scalar or one flow
collection. User data can never add a key, a document or a YAML anchor, and
``{{ 7*7 }}`` in an env value stays text because values are data, never template source.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.diff import SPEC_HASH
from reconciler.render.context import MANAGED_BY, PROJECT, build_context
from reconciler.render.sealed import Sealed
from reconciler.render.settings import RenderError, RenderSettings
from reconciler.state import layout
from schemas import Problem

if TYPE_CHECKING:
    import jinja2

    from reconciler.secrets import SecretBox
    from reconciler.state import ProjectState, Snapshot
    from reconciler.validate import ManifestValidator

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE_SUFFIX = ".yaml.j2"

# Dependency order of the apply; kinds not listed go last, in template order.
KIND_ORDER = {
    kind: rank
    for rank, kinds in enumerate(
        [
            ["Namespace"],
            ["ServiceAccount"],
            ["Role", "RoleBinding", "LimitRange", "ResourceQuota"],
            ["Secret", "ConfigMap"],
            ["PersistentVolumeClaim"],
            ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"],
            ["Service"],
            ["Ingress"],
            ["NetworkPolicy"],
        ]
    )
    for kind in kinds
}
# Objects outside any namespace; a template may create none of them but the project's Namespace.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)

# Line breaks to YAML (NEL, LS, PS), characters its reader refuses, and lone surrogates.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _not_json(value: Any) -> Any:
    raise TypeError(
        f"{value!r} is a {type(value).__name__}, not JSON data (YAML reads an unquoted date "
        "or time that way); quote it in the template"
    )


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_not_json)
_SCALARS = (str, int, float, list, dict, tuple, type(None))


def yaml_value(value: Any) -> str:
    """The one way a template places a value: as a JSON scalar or flow collection."""
    if not isinstance(value, _SCALARS):
        return _refuse(value)
    if isinstance(value, str):
        text = json.encoder.encode_basestring(value)  # type: ignore[attr-defined]
    else:
        try:
            text = _ENCODER.encode(value)
        except (TypeError, ValueError):
            return _refuse(value)
    if _YAML_UNSAFE.search(text) is None:
        return text
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _refuse(value: Any) -> str:
    import jinja2

    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    raise TypeError(
        f"{value!r:.60} cannot be placed in a manifest; templates place strings, finite "
        "numbers, booleans, null, lists and mappings of those"
    )


@dataclass(frozen=True)
class _Template:
    name: str
    origin: Path
    template: jinja2.Template


def template_environment(search: list[Path]) -> jinja2.Environment:
    """The sandboxed Jinja environment manifest templates render in (``rise install``'s too):
    every value placed through ``yaml_value``, undefined names an error."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        undefined=jinja2.StrictUndefined,
        finalize=yaml_value,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@functools.lru_cache(maxsize=8)
def _templates(override: Path | None) -> list[_Template]:
    """The template set: every ``*.yaml.j2`` of the override dir, then the built-in ones."""
    import jinja2

    search = [override, TEMPLATES_DIR] if override else [TEMPLATES_DIR]
    env = template_environment(search)
    found: dict[str, Path] = {}
    for folder in reversed(search):
        for path in sorted(folder.glob("*" + TEMPLATE_SUFFIX)):
            found[path.name] = path
    out, problems = [], []
    for name in sorted(found):
        try:
            template = env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(Problem(f"{found[name]}:{exc.lineno}", f"template error: {exc}"))
            continue
        # A plain dict: Jinja's ChainMap of globals costs ~40 us per render to copy.
        template.globals = dict(template.globals)
        out.append(_Template(name, found[name], template))
    if problems:
        raise RenderError(problems)
    return out


@functools.lru_cache(maxsize=4)
def _validator(version: str | None) -> ManifestValidator:
    from reconciler.validate import ManifestValidator

    return ManifestValidator(version)


def spec_hash(obj: dict[str, Any]) -> str:
    """A stable hash of an object's content (key order and whitespace do not matter)."""
    return hashlib.sha256(_CANONICAL.encode(obj).encode()).hexdigest()[:16]


def render_project(
    state: ProjectState, settings: RenderSettings, secrets: SecretBox | None
) -> list[dict[str, Any]]:
    """The Kubernetes objects of one project, in dependency order (docs/templates.md).

    Without ``secrets`` every secret value is the mask. Raises RenderError naming each
    problem's file (state file, template or object) when the project cannot be rendered.
    """
    if not state.valid:
        raise RenderError(
            state.problems or [Problem(layout.project_dir(state.name), "invalid project")]
        )
    sealed = Sealed()
    context = build_context(state, settings, secrets, sealed)
    rendered = _render_all(settings, context, state.name)
    validator = _validator(settings.kubernetes_version) if settings.validate else None
    problems: list[Problem] = []
    for template, obj in rendered:
        where = str(template.origin)
        try:
            digest = _stamp(obj, state.name)
        except TypeError as exc:
            problems.append(Problem(where, f"{_identity(obj)}: {exc}"))
            continue
        if validator is not None:
            problems += [
                Problem(where, f"{_identity(obj)}: {message}")
                for message in validator.problems(obj, key=digest)
            ]
    if problems:
        raise RenderError(problems)
    objects = [obj for _, obj in rendered]
    sealed.reveal(objects)
    return objects


def render_snapshot(
    snapshot: Snapshot, settings: RenderSettings, secrets: SecretBox | None
) -> dict[str, list[dict[str, Any]] | RenderError]:
    """Every project of a snapshot; a project that cannot be rendered maps to its error."""
    out: dict[str, list[dict[str, Any]] | RenderError] = {}
    for name, state in snapshot.projects.items():
        try:
            out[name] = render_project(state, settings, secrets)
        except RenderError as exc:
            out[name] = exc
    return out


def _render_all(
    settings: RenderSettings, context: dict[str, Any], project: str
) -> list[tuple[_Template, dict[str, Any]]]:
    """Every template's objects, checked to stay in the project, in dependency order."""
    rendered: list[tuple[_Template, dict[str, Any]]] = []
    problems: list[Problem] = []
    for template in _templates(settings.templates_dir):
        try:
            rendered.extend((template, obj) for obj in _render_one(template, context))
        except RenderError as exc:
            problems.extend(exc.problems)
    problems += _check_scope(rendered, project, settings.namespace(project))
    if problems:
        raise RenderError(problems)
    rendered.sort(key=lambda pair: KIND_ORDER.get(pair[1]["kind"], len(KIND_ORDER)))
    return rendered


def _stamp(obj: dict[str, Any], project: str) -> str:
    """Set rise's labels, then the hash of everything else as an annotation; return it."""
    metadata = obj["metadata"]
    metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY: "rise", PROJECT: project}
    annotations = metadata.pop("annotations", None) or {}
    annotations.pop(SPEC_HASH, None)
    if annotations:
        metadata["annotations"] = annotations
    digest = spec_hash(obj)
    metadata["annotations"] = {**annotations, SPEC_HASH: digest}
    return digest


def _render_one(template: _Template, context: dict[str, Any]) -> Iterator[dict[str, Any]]:
    import jinja2

    try:
        text = template.template.render(context)
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise RenderError([Problem(_where(template, exc), f"template error: {exc}")]) from None
    yield from _parse(template, text)


def _parse(template: _Template, text: str) -> Iterator[dict[str, Any]]:
    stripped = text.strip()
    if not stripped:
        return
    try:
        docs = _load(stripped)
    except ValueError as exc:
        raise RenderError(
            [Problem(str(template.origin), f"rendered text is not valid YAML: {exc}")]
        ) from None
    for doc in docs:
        if doc is None:
            continue
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not (
            isinstance(meta, dict)
            and isinstance(meta.get("name"), str)
            and all(isinstance(doc.get(k), str) for k in ("apiVersion", "kind"))
        ):
            raise RenderError(
                [
                    Problem(
                        str(template.origin),
                        "each document must be an object with string apiVersion, kind and "
                        "metadata.name",
                    )
                ]
            )
        yield doc


def _load(text: str) -> list[Any]:
    if text.startswith("{"):
        # The built-in templates use YAML's JSON style, which parses ~40x faster than YAML.
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            pass  # flow style that is YAML but not JSON (a trailing comma, say)
    import yaml

    try:
        return list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def _check_scope(
    rendered: list[tuple[_Template, dict[str, Any]]], project: str, namespace: str
) -> list[Problem]:
    """Everything stays inside the project's namespace: no foreign or cluster-wide objects."""
    problems = []
    seen: dict[tuple[str, str], Path] = {}
    for template, obj in rendered:
        kind, meta = obj["kind"], obj["metadata"]
        where = str(template.origin)
        identity = (kind, meta["name"])
        if identity in seen:
            problems.append(
                Problem(
                    where, f"{kind} {meta['name']!r} is rendered twice (also by {seen[identity]})"
                )
            )
        seen.setdefault(identity, template.origin)
        if kind == "Namespace":
            if meta["name"] != namespace or "namespace" in meta:
                problems.append(
                    Problem(where, f"the only Namespace a project may have is {namespace!r}")
                )
        elif kind in CLUSTER_SCOPED:
            problems.append(
                Problem(where, f"{kind} is cluster-wide; project {project!r} may not create one")
            )
        elif meta.get("namespace") != namespace:
            problems.append(
                Problem(
                    where,
                    f"{kind} {meta['name']!r} is in namespace {meta.get('namespace')!r}; every "
                    f"object of project {project!r} belongs in {namespace!r} "
                    "(metadata.namespace: {{ project.namespace }})",
                )
            )
    return problems


def _identity(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


def _where(template: _Template, exc: BaseException) -> str:
    """``path:line`` of the template line that failed, from Jinja's rewritten traceback."""
    line = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(template.name):
            line = frame.lineno
    return f"{template.origin}:{line}" if line else str(template.origin)
