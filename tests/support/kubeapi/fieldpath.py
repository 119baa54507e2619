"""Field paths and field sets, the vocabulary of server-side apply's ownership tracking.

A path is a tuple of `fieldsV1` elements: `("f:spec", "f:template", "f:spec", "f:containers",
'k:{"name":"app"}', "f:image")`; a trailing `"."` marks ownership of a keyed list item itself.
Using the wire spelling for the elements makes encoding `managedFields` a plain tree build.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from . import schema
from .schema import ANY, ListOf, Node

Path = tuple[str, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Identity and bookkeeping fields nobody "owns" (they never appear in captured fieldsV1).
_UNOWNED_TOP = {"apiVersion", "kind"}
_UNOWNED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
}


def clone(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars); much faster than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def owned_view(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` without the fields that are never part of a field set (shallow copy)."""
    out = {k: v for k, v in obj.items() if k not in _UNOWNED_TOP}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        rest = {k: v for k, v in meta.items() if k not in _UNOWNED_META}
        if rest:
            out["metadata"] = rest
        else:
            out.pop("metadata", None)
    return out


def item_key(item: dict[str, Any], node: ListOf) -> str:
    """`k:{...}` for a keyed list item, keys sorted, with defaults filled (capture 08)."""
    fields = {}
    for key in sorted(node.keys):
        if key in item and item[key] is not None:
            fields[key] = item[key]
        elif key in node.key_defaults:
            fields[key] = node.key_defaults[key]
    return "k:" + json.dumps(fields, separators=(",", ":"), sort_keys=True)


def _is_keyed(node: Node) -> bool:
    return isinstance(node, ListOf) and bool(node.keys) and not node.atomic


def field_set(obj: dict[str, Any], node: Node, prefix: Path = ()) -> set[Path]:
    """Every leaf field and keyed list item present in `obj`."""
    out: set[Path] = set()
    _walk(obj, node, prefix, out)
    return out


def _walk(value: dict[str, Any], node: Node, prefix: Path, out: set[Path]) -> None:
    for name, sub_value in value.items():
        if sub_value is None:
            continue
        sub = schema.child(node, name) or ANY
        path = (*prefix, "f:" + name)
        if schema.is_leaf(sub, sub_value):
            out.add(path)
        elif isinstance(sub_value, dict):
            _walk(sub_value, sub, path, out)
        elif isinstance(sub_value, list) and isinstance(sub, ListOf):
            for item in sub_value:
                if not isinstance(item, dict):
                    continue
                item_path = (*path, item_key(item, sub))
                out.add((*item_path, "."))
                _walk(item, sub.items, item_path, out)
        else:
            out.add(path)


def _step(container: Any, element: str, node: Node) -> tuple[Any, Node]:
    if element.startswith("f:"):
        name = element[2:]
        sub = schema.child(node, name) or ANY
        if isinstance(container, dict) and name in container:
            return container[name], sub
        return MISSING, sub
    if element.startswith("k:") and isinstance(node, ListOf):
        if isinstance(container, list):
            for item in container:
                if isinstance(item, dict) and item_key(item, node) == element:
                    return item, node.items
        return MISSING, node.items
    return MISSING, ANY


def get_at(obj: Any, path: Path, node: Node) -> Any:
    """The value at `path`, or MISSING. A trailing "." names the list item itself."""
    current = obj
    for element in path:
        if element == ".":
            break
        current, node = _step(current, element, node)
        if current is MISSING:
            return MISSING
    return current


def remove_at(obj: dict[str, Any], path: Path, node: Node) -> None:
    """Remove the field (or, with a trailing ".", the list item) at `path`, if present."""
    if path and path[-1] == ".":
        path = path[:-1]
    if not path:
        return
    parent = get_at(obj, path[:-1], node)
    parent_node = node_at(path[:-1], node)
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list) and isinstance(parent_node, ListOf):
        parent[:] = [
            item
            for item in parent
            if not (isinstance(item, dict) and item_key(item, parent_node) == last)
        ]


def node_at(path: Path, node: Node) -> Node:
    for element in path:
        if element == ".":
            break
        _, node = _step(None, element, node)
    return node


def prune_empty(obj: dict[str, Any], path: Path, node: Node, keep: set[Path]) -> None:
    """Drop containers left empty by a removal, walking up from `path` (not the top level)."""
    if path and path[-1] == ".":
        path = path[:-1]
    for depth in range(len(path) - 1, 1, -1):
        parent_path = path[:depth]
        if parent_path in keep:
            return
        value = get_at(obj, parent_path, node)
        if value is MISSING or value:
            return
        remove_at(obj, parent_path, node)


def merge(base: Any, patch: Any, node: Node) -> Any:
    """Apply-merge `patch` into `base`: granular maps, keyed lists by key, the rest replaced."""
    if isinstance(patch, dict) and isinstance(base, dict) and not node.atomic:
        out = dict(base)
        for name, value in patch.items():
            if value is None:
                continue
            sub = schema.child(node, name) or ANY
            out[name] = merge(base[name], value, sub) if name in base else clone(value)
        return out
    if isinstance(patch, list) and isinstance(base, list) and _is_keyed(node):
        assert isinstance(node, ListOf)
        by_key = {item_key(i, node): i for i in base if isinstance(i, dict)}
        merged: list[Any] = []
        seen: set[str] = set()
        for item in patch:
            if not isinstance(item, dict):
                continue
            key = item_key(item, node)
            seen.add(key)
            old = by_key.get(key)
            merged.append(clone(item) if old is None else merge(old, item, node.items))
        # Items only someone else applied keep their place after ours.
        merged.extend(i for i in base if not (isinstance(i, dict) and item_key(i, node) in seen))
        return merged
    return clone(patch)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Encode a set as the `fieldsV1` tree, keys sorted like the apiserver's ("." first)."""
    tree: dict[str, Any] = {}
    for path in paths:
        cursor = tree
        for element in path:
            cursor = cursor.setdefault(element, {})
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted_tree(tree[key]) for key in sorted(tree)}


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for element, children in tree.items():
        path = (*prefix, element)
        if children:
            out |= from_fields_v1(children, path)
        else:
            out.add(path)
    return out


def describe(path: Path) -> str:
    """`.spec.template.spec.containers[name="app"].image`, as conflict causes spell paths."""
    text = ""
    for element in path:
        if element == ".":
            continue
        if element.startswith("f:"):
            text += "." + element[2:]
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif element.startswith("v:"):
            text += f"[={element[2:]}]"
        else:
            text += element
    return text
