"""The server's configuration: file, then ``RISE_*`` environment variables, then CLI flags.

Every key of ``ServerConfig`` has a variable: ``data_dir`` is ``RISE_DATA_DIR``, nested keys
join with a double underscore (``[auth] access_token_ttl`` is ``RISE_AUTH__ACCESS_TOKEN_TTL``).
Lists take JSON (``["a","b"]``) or commas (``a,b``). The merged result is validated once, so a
bad value is reported with the file or variable it came from.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas import Problem, SchemaError, ServerConfig, parse_model
from schemas.errors import parse_toml, suggest

PREFIX = "RISE_"
# Variables of the CLI and of the server that are not config keys; never "did you mean"-ed.
OTHER_VARIABLES = frozenset(
    {"RISE_ADMIN_PASSWORD", "RISE_CONFIG", "RISE_TOKEN", "RISE_URL", "RISE_WEBHOOK_SECRET"}
)


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Merge the file at ``path``, ``RISE_*`` variables and ``flags`` (dotted key -> value)."""
    source = str(path) if path else "server configuration"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SchemaError([Problem(source, f"cannot read the file: {exc.strerror}")]) from None
        raw = parse_toml(text, source)
    for dotted, value in env_overrides(environ or {}).items():
        _set(raw, dotted, value)
    for dotted, value in (flags or {}).items():
        if value is not None:
            _set(raw, dotted, value)
    return parse_model(raw, ServerConfig, source)


def env_variables() -> dict[str, tuple[str, Any]]:
    """Every accepted variable -> (dotted key, type)."""
    out: dict[str, tuple[str, Any]] = {}
    _collect(ServerConfig, (), out)
    return out


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    known = env_variables()
    overrides: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, text in environ.items():
        if name not in known:
            continue
        dotted, annotation = known[name]
        try:
            overrides[dotted] = _coerce(annotation, text)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            problems.append(Problem(f"environment variable {name}", f"{text!r}: {message}"))
    if problems:
        raise SchemaError(problems)
    return overrides


def env_warnings(environ: Mapping[str, str]) -> list[str]:
    """Unknown ``RISE_*`` variables that look like a mistyped config variable."""
    known = env_variables()
    warnings = []
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known and name not in OTHER_VARIABLES:
            match = suggest(name, known)
            if match:
                warnings.append(f"ignoring environment variable {name}: did you mean {match}?")
    return warnings


def _collect(
    model: type[BaseModel], prefix: tuple[str, ...], out: dict[str, tuple[str, Any]]
) -> None:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        annotation = field.annotation
        nested = _model_in(annotation)
        if nested is not None:
            _collect(nested, path, out)
        else:
            out[PREFIX + "__".join(p.upper() for p in path)] = (".".join(path), annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model of a ``Model`` or ``Model | None`` field; its keys get variables of their own."""
    candidates = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        candidates = list(typing.get_args(annotation))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _coerce(annotation: Any, text: str) -> Any:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    if _is_collection(annotation):
        stripped = text.strip()
        if stripped.startswith(("[", "{")):
            return adapter.validate_json(stripped)
        return adapter.validate_python([part.strip() for part in stripped.split(",") if part])
    return adapter.validate_strings(text)


def _is_collection(annotation: Any) -> bool:
    origins = {typing.get_origin(a) for a in (annotation, *typing.get_args(annotation))}
    return bool(origins & {list, dict})


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value
