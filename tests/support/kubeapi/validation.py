"""Validation the reconciler depends on: schema fit (500 on apply, 29/31), object rules (422, 30).

Two layers, as in kube-apiserver. Schema fit (types, unknown fields) is checked against the
small allowlist in `schema.py`. Object rules cover names, labels, and the few kind-specific
rules a deploy tool trips over (selector/template mismatch, immutable selector, ...).
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import schema
from .fieldpath import item_key
from .schema import ListOf, MapOf, Node, Scalar, Struct

Cause = tuple[str, str]  # (field, message)

_GO_TYPES = {
    str: "string",
    bool: "bool",
    int: "int64",
    float: "float64",
    dict: "map[string]interface {}",
}


def _go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), "[]interface {}")


def _go_value(value: Any) -> str:
    return "&value.valueUnstructured{Value:" + json.dumps(value) + "}"


def schema_problems(obj: Any, node: Node) -> tuple[list[str], list[str]]:
    """(type errors, unknown field paths), both in the apiserver's `.spec.replicas` spelling."""
    type_errors: list[str] = []
    unknown: list[str] = []
    _check(obj, node, "", type_errors, unknown)
    return type_errors, unknown


def _check(value: Any, node: Node, path: str, errs: list[str], unknown: list[str]) -> None:
    if value is None:
        return
    if isinstance(node, Scalar):
        problem = _scalar_problem(value, node.type)
        if problem:
            errs.append(f"{path}: {problem}")
        return
    if isinstance(node, (Struct, MapOf)):
        if not isinstance(value, dict):
            errs.append(f"{path}: expected map, got &{{{value}}}")
            return
        for name, sub_value in value.items():
            sub = schema.child(node, name)
            sub_path = f"{path}.{name}"
            if sub is None:
                unknown.append(sub_path)
                continue
            _check(sub_value, sub, sub_path, errs, unknown)
        return
    if isinstance(node, ListOf):
        if not isinstance(value, list):
            errs.append(f"{path}: expected list, got &{{{value}}}")
            return
        seen: set[str] = set()
        for index, item in enumerate(value):
            if node.keys and isinstance(item, dict):
                key = item_key(item, node)
                label = ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(key[2:]).items())
                item_path = f"{path}[{label}]"
                if key in seen:
                    errs.append(f"{path}: duplicate entries for key [{label}]")
                seen.add(key)
            else:
                item_path = f"{path}[{index}]"
            _check(item, node.items, item_path, errs, unknown)


def _scalar_problem(value: Any, type_: str) -> str | None:
    is_bool = isinstance(value, bool)
    is_num = isinstance(value, (int, float)) and not is_bool
    if type_ in ("integer", "number") and not is_num:
        return f"expected numeric (int or float), got {_go_type(value)}"
    if type_ == "string" and not isinstance(value, str):
        return f"expected string, got {_go_value(value)}"
    if type_ == "boolean" and not is_bool:
        return f"expected boolean, got {_go_value(value)}"
    if type_ == "int-or-string" and not (is_num or isinstance(value, str)):
        return f"expected numeric (int or float), got {_go_type(value)}"
    if type_ == "any" and isinstance(value, (dict, list)):
        return f"expected any scalar, got {_go_value(value)}"
    return None


def drop_unknown(obj: Any, node: Node) -> None:
    """Remove fields the schema does not declare (fieldValidation Ignore/Warn)."""
    if isinstance(obj, dict) and isinstance(node, (Struct, MapOf)):
        for name in list(obj):
            sub = schema.child(node, name)
            if sub is None:
                del obj[name]
            else:
                drop_unknown(obj[name], sub)
    elif isinstance(obj, list) and isinstance(node, ListOf):
        for item in obj:
            drop_unknown(item, node.items)


# --- names and labels -------------------------------------------------------------------

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

_NAME_RULES: dict[str, tuple[str, int, str]] = {
    "subdomain": (
        _SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is '" + _SUBDOMAIN + "')",
    ),
    "label": (
        _LABEL_1123,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
        "'123-abc', regex used for validation is '" + _LABEL_1123 + "')",
    ),
    "dns1035": (
        _LABEL_1035,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '" + _LABEL_1035 + "')",
    ),
}

# Which rule each kind's metadata.name follows (the apiserver's per-kind name validators).
_NAME_RULE_BY_KIND = {"Namespace": "label", "Service": "dns1035"}


def name_problem(name: str, kind: str) -> str | None:
    pattern, limit, text = _NAME_RULES[_NAME_RULE_BY_KIND.get(kind, "subdomain")]
    if not name:
        return "Required value: name or generateName is required"
    if len(name) > limit:
        return f'Invalid value: "{name}": must be no more than {limit} characters'
    if not re.fullmatch(pattern, name):
        return f'Invalid value: "{name}": {text}'
    return None


def _label_causes(labels: Any, field: str) -> list[Cause]:
    if not isinstance(labels, dict):
        return []
    causes: list[Cause] = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not re.fullmatch(_SUBDOMAIN, prefix)):
            causes.append(
                (field, f'Invalid value: "{key}": prefix part {_NAME_RULES["subdomain"][2]}')
            )
        elif len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
            causes.append(
                (
                    field,
                    f'Invalid value: "{key}": name part must consist of alphanumeric '
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                    f"validation is '{_QUALIFIED_NAME}')",
                )
            )
        if not isinstance(value, str):
            continue
        if len(value) > 63:
            causes.append((field, f'Invalid value: "{value}": must be no more than 63 characters'))
        elif not re.fullmatch(_LABEL_VALUE, value):
            causes.append(
                (
                    field,
                    f'Invalid value: "{value}": a valid label must be an empty string or consist '
                    "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
                    f"used for validation is '{_LABEL_VALUE}')",
                )
            )
    return causes


# --- object rules ------------------------------------------------------------------------


def object_causes(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """422 causes for `obj` (with `old`, the stored object, on updates)."""
    kind = obj.get("kind", "")
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    problem = name_problem(meta.get("name", ""), kind)
    if problem:
        causes.append(("metadata.name", problem))
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    if kind in ("Deployment", "ReplicaSet"):
        causes += _workload_causes(obj, old)
    elif kind == "Service":
        causes += _service_causes(obj)
    elif kind == "Secret" and old is not None and old.get("type") != obj.get("type"):
        causes.append(("type", f'Invalid value: "{obj.get("type")}": field is immutable'))
    return causes


def _workload_causes(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        )
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(("spec.selector", "Required value"))
    else:
        match = selector.get("matchLabels") or {}
        if not match and not selector.get("matchExpressions"):
            causes.append(("spec.selector", 'Invalid value: "{}": empty selector is invalid'))
        elif any(labels.get(k) != v for k, v in match.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {_go_map(labels)}: `selector` does not match template "
                    "`labels`",
                )
            )
        old_selector = ((old or {}).get("spec") or {}).get("selector")
        if old is not None and old_selector != selector:
            causes.append(
                ("spec.selector", f"Invalid value: {_go_selector(selector)}: field is immutable")
            )
    containers = (template.get("spec") or {}).get("containers")
    if not containers:
        causes.append(("spec.template.spec.containers", "Required value"))
    for i, c in enumerate(containers or []):
        if not isinstance(c, dict):
            continue
        where = f"spec.template.spec.containers[{i}]"
        if not c.get("name"):
            causes.append((f"{where}.name", "Required value"))
        if not c.get("image"):
            causes.append((f"{where}.image", "Required value"))
        for j, port in enumerate(c.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if isinstance(number, int) and not 0 < number < 65536:
                causes.append(
                    (
                        f"{where}.ports[{j}].containerPort",
                        f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                    )
                )
    return causes


def _service_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("ports"):
        causes.append(("spec.ports", "Required value"))
    for i, port in enumerate(spec.get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                (
                    f"spec.ports[{i}].port",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def _go_map(labels: dict[str, Any]) -> str:
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items()))
    return "map[string]string{" + inner + "}"


def _go_selector(selector: dict[str, Any]) -> str:
    return (
        "v1.LabelSelector{MatchLabels:"
        + _go_map(selector.get("matchLabels") or {})
        + ", MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
    )
