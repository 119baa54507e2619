"""Label and field selectors, parsed the way kube-apiserver reads `labelSelector`/`fieldSelector`.

Label: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a` (exists), `!a` (absent).
Field: `path=value`, `path==value`, `path!=value` on dotted paths (`metadata.name`, `status.phase`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s,()]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses (`a in (x,y),b` is two terms)."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t for t in terms if t.strip()]


def label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _labels: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        checks.append(_label_term(term))
    return lambda labels: all(check(labels) for check in checks)


def _label_term(term: str) -> Predicate:
    eq = _EQ_RE.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _SET_RE.match(term)
    if not match:
        raise ApiError(400, f"unable to parse requirement: invalid label selector: {term!r}")
    negate, key, op, values_text = match.groups()
    if op:
        if negate:
            raise ApiError(400, f"unable to parse requirement: {term!r}")
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if negate:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def field_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _obj: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        match = _EQ_RE.match(term)
        if not match:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = match.groups()
        checks.append(_field_term(path.split("."), op, value))
    return lambda obj: all(check(obj) for check in checks)


def _field_term(path: list[str], op: str, value: str) -> Predicate:
    def lookup(obj: dict[str, Any]) -> str:
        current: Any = obj
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        if current is None:
            return ""
        if isinstance(current, bool):
            return str(current).lower()
        return str(current)

    if op == "!=":
        return lambda obj: lookup(obj) != value
    return lambda obj: lookup(obj) == value


def matches_label_selector(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a `LabelSelector` object (matchLabels/matchExpressions) selects `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
