"""Strict validation of rendered objects against the Kubernetes OpenAPI schema, offline.

The schemas come from the ``kubernetes-validate`` package (about 108 MB of JSON). Its own
``validate()`` re-reads the 1.3 MB definitions file and builds a validator on every call
(about 11 ms); here everything is loaded once, on first use, per (version, kind).

``jsonschema`` is the reference but walks the schema generically (about 1 ms for a
Deployment). So each kind's schema is also compiled into nested Python predicates for the
few keywords the Kubernetes schemas use (type, properties, additionalProperties, required,
items, enum, oneOf, $ref): a yes/no answer about 20x faster. Only an object the predicate
rejects goes through ``jsonschema``, which words the errors and has the last say; a schema
with any other keyword is never compiled. Tests check both agree (tests/reconciler/
test_render_validate.py). Results are also remembered by the caller's content key, so an
object that was valid once is not checked again while it stays the same.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from schemas.errors import did_you_mean

_CACHE_LIMIT = 100_000


class SchemaVersionError(ValueError):
    """A Kubernetes version the installed schemas do not cover."""


@functools.cache
def supported_versions() -> tuple[str, ...]:
    """Kubernetes minor versions with schemas, oldest first (``('1.25', ..., '1.37')``)."""
    return tuple(_folders())


def latest_version() -> str:
    return supported_versions()[-1]


def resolve_version(version: str | None) -> str:
    """``version`` as a supported minor version (None: the newest); says which exist."""
    if version is None:
        return latest_version()
    minor = _minor(version.removeprefix("v"))
    if minor not in supported_versions():
        raise SchemaVersionError(
            f"no Kubernetes schemas for version {version!r}; the installed kubernetes-validate "
            f"has {supported_versions()[0]} to {latest_version()}"
        )
    return minor


class ManifestValidator:
    """Validates objects strictly (unknown fields are errors) for one Kubernetes version."""

    def __init__(self, version: str | None = None, cache_limit: int = _CACHE_LIMIT):
        self.version = resolve_version(version)
        self._seen: OrderedDict[str, list[str]] = OrderedDict()
        self._cache_limit = cache_limit
        self._lock = threading.Lock()

    def problems(self, obj: dict[str, Any], key: str | None = None) -> list[str]:
        """Why ``obj`` is not a valid object, one line each; empty when it is valid.

        ``key`` identifies the object's content (a hash); a key seen before answers at once.
        """
        if key is not None:
            with self._lock:
                hit = self._seen.get(key)
                if hit is not None:
                    self._seen.move_to_end(key)
                    return hit
        found = self._check(obj)
        if key is not None:
            with self._lock:
                self._seen[key] = found
                if len(self._seen) > self._cache_limit:
                    self._seen.popitem(last=False)
        return found

    def _check(self, obj: dict[str, Any]) -> list[str]:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            return ["every object needs string 'apiVersion' and 'kind' fields"]
        if _schema(self.version, kind, api_version) is None:
            return [
                f"Kubernetes {self.version} has no kind {kind!r} in {api_version!r} "
                "(a typo, or an API version that was removed?)"
            ]
        gate = _gate(self.version, kind, api_version)
        if gate is not None and gate(obj):
            return []
        validator = _validator(self.version, kind, api_version)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))
        return [f"{_path(e.absolute_path)}: {_message(e)}" for e in errors]


def _minor(version: str) -> str:
    match = re.match(r"^(\d+)\.(\d+)", version)
    if not match:
        raise SchemaVersionError(f"{version!r} is not a Kubernetes version such as '1.30'")
    return f"{match[1]}.{match[2]}"


@functools.cache
def _definitions(version: str) -> dict[str, Any]:
    return dict(_schema_file(version, "_definitions.json")["$defs"])


@functools.cache
def _schema(version: str, kind: str, api_version: str) -> dict[str, Any] | None:
    # The package's file naming: apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        return dict(_schema_file(version, f"{kind.lower()}-{group_version}.json"))
    except FileNotFoundError:
        return None


@functools.cache
def _registry(version: str) -> Any:
    from referencing import Registry, Resource

    return Resource.from_contents(_schema_file(version, "_definitions.json")) @ Registry()


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> Any:
    import jsonschema
    from referencing import Resource

    schema = _schema(version, kind, api_version)
    registry = Resource.from_contents(schema) @ _registry(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _gate(version: str, kind: str, api_version: str) -> Check | None:
    schema = _schema(version, kind, api_version)
    try:
        return _compiler(version).compile(schema)
    except _Unsupported:
        return None


@functools.cache
def _compiler(version: str) -> _Compiler:
    return _Compiler(_definitions(version))


@functools.cache
def _folders() -> dict[str, Path]:
    """Minor version -> the package's strict schema folder, oldest first.

    Found without importing the package, whose import pulls in jsonschema (~100 ms), which
    only an invalid object needs.
    """
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaVersionError("the kubernetes-validate package is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    found = {
        _minor(path.name.removeprefix("v")): path
        for path in root.glob("v*-local-strict")
        if path.is_dir()
    }
    return {v: found[v] for v in sorted(found, key=lambda v: tuple(map(int, v.split("."))))}


def _schema_file(version: str, name: str) -> Any:
    return json.loads((_folders()[version] / name).read_bytes())


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(top level)"


def _message(error: Any) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        given = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(given) - set(allowed))
        if extra:
            return f"unknown field {extra[0]!r}{did_you_mean(extra[0], allowed)}"
    return str(error.message)


# -- the compiled predicate ------------------------------------------------------------------

Check = Callable[[Any], bool]
_ANNOTATIONS = {"description", "format", "$schema", "$id", "$defs"}  # format: not asserted
_KEYWORDS = {"type", "properties", "additionalProperties", "required", "items", "enum"}
_KEYWORDS |= {"oneOf", "$ref"} | _ANNOTATIONS
_PLAIN_TYPES: dict[str, type] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


class _Unsupported(Exception):
    """The schema uses a keyword the compiler does not implement."""


class _Compiler:
    """Schema → predicate, sharing one compiled predicate per definition (also recursive)."""

    def __init__(self, definitions: dict[str, Any]):
        self._definitions = definitions
        self._compiled: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        unknown = {k for k in schema if not k.startswith("x-")} - _KEYWORDS
        if unknown:
            raise _Unsupported(sorted(unknown))
        checks = [self._ref(schema["$ref"])] if "$ref" in schema else []
        if "type" in schema:
            checks.append(_type_check(schema["type"]))
        if "enum" in schema:
            options = schema["enum"]
            checks.append(lambda v: any(_equal(v, option) for option in options))
        if {"properties", "additionalProperties", "required"} & set(schema):
            checks.append(self._object(schema))
        if "items" in schema:
            item = self.compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(i) for i in v))
        if "oneOf" in schema:
            options = [self.compile(option) for option in schema["oneOf"]]
            checks.append(lambda v: sum(1 for option in options if option(v)) == 1)
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)
        return lambda v: all(check(v) for check in checks)

    def _ref(self, ref: str) -> Check:
        name = ref.rpartition("/$defs/")[2]
        if name not in self._compiled:
            # Placed before compiling, so a schema that refers to itself finds it.
            cell: list[Check] = []
            self._compiled[name] = lambda v: cell[0](v)
            cell.append(self.compile(self._definitions[name]))
        return self._compiled[name]

    def _object(self, schema: dict[str, Any]) -> Check:
        properties = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        other = self.compile(extra) if extra is not True else None
        required = list(schema.get("required", []))

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if any(key not in value for key in required):
                return False
            for key, item in value.items():
                known = properties.get(key)
                if known is not None:
                    if not known(item):
                        return False
                elif other is not None and not other(item):
                    return False
            return True

        return check


def _type_check(spec: str | list[str]) -> Check:
    """jsonschema's types: booleans are no numbers, and 2.0 is an integer."""
    names = set(spec if isinstance(spec, list) else [spec])
    unknown = names - set(_PLAIN_TYPES) - {"integer", "number"}
    if unknown:
        raise _Unsupported(sorted(unknown))
    plain = tuple(_PLAIN_TYPES[n] for n in names if n in _PLAIN_TYPES)
    if "number" in names:
        return lambda v: (
            isinstance(v, plain) or (isinstance(v, int | float) and not isinstance(v, bool))
        )
    if "integer" in names:
        return lambda v: (
            isinstance(v, plain)
            or (
                (isinstance(v, int) and not isinstance(v, bool))
                or (isinstance(v, float) and v.is_integer())
            )
        )
    return lambda v: isinstance(v, plain)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema's enum has it: true is not 1, and 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return (numbers or type(a) is type(b)) and a == b
