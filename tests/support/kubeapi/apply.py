"""Server-side apply: field ownership per manager, conflicts, merge, and removal of dropped fields.

The model is the set-based one kube-apiserver uses (structured-merge-diff), cut down:
- a manager owns the leaf fields and keyed list items it applied (`fieldpath.field_set`);
- applying a different value for a field another manager owns is a conflict (capture 12),
  unless forced, which moves the field to the applier (13);
- a field the applier owned before, no longer sends, and nobody else owns is removed (11);
- non-apply writes ("Update" operations) take the fields they change from everybody.
Conflicts are judged on the merged object *before* defaulting, as the apiserver does, so a
second manager restating an atomic field without the server's defaults still conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import errors, fieldpath
from .fieldpath import MISSING, Path
from .schema import Node


@dataclass
class Entry:
    """One `managedFields` entry, with its field set decoded."""

    manager: str
    operation: str  # "Apply" | "Update"
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def label(self) -> str:
        """The manager as conflict messages print it (`"rise"`, `"x" using apps/v1`)."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version} at {self.time}"
        return text


def read_entries(obj: dict[str, Any] | None) -> list[Entry]:
    if not obj:
        return []
    entries = []
    for raw in obj.get("metadata", {}).get("managedFields") or []:
        if not isinstance(raw, dict) or "manager" not in raw:
            continue
        entries.append(
            Entry(
                manager=raw["manager"],
                operation=raw.get("operation", "Update"),
                api_version=raw.get("apiVersion", ""),
                time=raw.get("time", ""),
                fields=fieldpath.from_fields_v1(raw.get("fieldsV1") or {}),
                subresource=raw.get("subresource", ""),
            )
        )
    return entries


def write_entries(obj: dict[str, Any], entries: list[Entry]) -> None:
    """Render entries into `metadata.managedFields`, ordered the way the apiserver sorts them."""
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time, e.manager, e.api_version, e.subresource))
    rendered = []
    for e in kept:
        raw: dict[str, Any] = {
            "manager": e.manager,
            "operation": e.operation,
            "apiVersion": e.api_version,
            "time": e.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fieldpath.to_fields_v1(e.fields),
        }
        if e.subresource:
            raw["subresource"] = e.subresource
        rendered.append(raw)
    meta = obj.setdefault("metadata", {})
    if rendered:
        meta["managedFields"] = rendered
    else:
        meta.pop("managedFields", None)


def same_ownership(a: list[Entry], b: list[Entry]) -> bool:
    """Equal field sets per manager, times ignored: the "would this write anything" test."""

    def key(entries: list[Entry]) -> dict[tuple[str, str, str], frozenset[Path]]:
        return {e.identity: frozenset(e.fields) for e in entries if e.fields}

    return key(a) == key(b)


@dataclass
class ApplyResult:
    obj: dict[str, Any]
    entries: list[Entry]


def apply(
    live: dict[str, Any] | None,
    patch: dict[str, Any],
    node: Node,
    *,
    manager: str,
    api_version: str,
    force: bool,
    now: str,
) -> ApplyResult:
    """Merge an applied configuration into `live` (None when creating), with ownership.

    Raises the 409 `Conflict` of capture 12 when another manager owns a field this apply
    changes and `force` is not set.
    """
    base = fieldpath.clone(live) if live is not None else {}
    entries = read_entries(live)  # freshly decoded: ours to change
    applied = fieldpath.owned_view(patch)
    new_set = fieldpath.field_set(applied, node)

    merged = fieldpath.merge(base, applied, node)
    changed = {
        p
        for p in new_set
        if p[-1] != "." and fieldpath.get_at(merged, p, node) != fieldpath.get_at(base, p, node)
    }

    mine = next((e for e in entries if e.identity == (manager, "Apply", "")), None)
    others = [e for e in entries if e is not mine]
    conflicts = [(e, p) for e in others for p in sorted(changed) if p in e.fields]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for e, p in conflicts:
        e.fields.discard(p)

    owned_by_others: set[Path] = set().union(*(e.fields for e in others)) if others else set()
    removed = (mine.fields if mine else set()) - new_set
    keep = owned_by_others | new_set
    # Whole list items first (outermost first), then single fields: removing an item's key
    # field first would make the item unfindable by its key.
    items = sorted((p for p in removed if p[-1] == "."), key=len)
    leaves = sorted((p for p in removed if p[-1] != "."), key=len, reverse=True)
    for path in items + leaves:
        if path[-1] == ".":
            item = path[:-1]
            if any(p[: len(item)] == item for p in keep):
                continue
        elif path in owned_by_others or _is_key_field(path):
            continue
        if fieldpath.get_at(merged, path, node) is MISSING:
            continue
        fieldpath.remove_at(merged, path, node)
        fieldpath.prune_empty(merged, path, node, keep)

    if mine is None:
        mine = Entry(manager=manager, operation="Apply", api_version=api_version, time=now)
        entries.append(mine)
    mine.fields = new_set
    mine.api_version = api_version
    mine.time = now
    return ApplyResult(obj=merged, entries=entries)


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    node: Node,
    *,
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
) -> list[Entry]:
    """Ownership after a non-apply write: the writer takes every field it changed."""
    entries = read_entries(old)
    old_view = fieldpath.owned_view(old) if old else {}
    new_view = fieldpath.owned_view(new)
    old_set = fieldpath.field_set(old_view, node)
    new_set = fieldpath.field_set(new_view, node)
    changed = {
        p
        for p in new_set
        if (p[-1] == "." and p not in old_set)
        or (
            p[-1] != "."
            and fieldpath.get_at(new_view, p, node) != fieldpath.get_at(old_view, p, node)
        )
    }
    gone = old_set - new_set
    for e in entries:
        e.fields -= changed | gone
    if changed:
        identity = (manager, "Update", subresource)
        mine = next((e for e in entries if e.identity == identity), None)
        if mine is None:
            mine = Entry(
                manager=manager,
                operation="Update",
                api_version=api_version,
                time=now,
                subresource=subresource,
            )
            entries.append(mine)
        mine.fields |= changed
        mine.time = now
    return entries


def _conflict_error(conflicts: list[tuple[Entry, Path]]) -> errors.ApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {e.label()}",
            "field": fieldpath.describe(p),
        }
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        e, p = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {e.label()}: {fieldpath.describe(p)}"
        )
    else:
        lines: list[str] = []
        for label in sorted({e.label() for e, _ in conflicts}):
            lines.append(f"conflicts with {label}:")
            lines.extend(f"- {fieldpath.describe(p)}" for e, p in conflicts if e.label() == label)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.ApiError(409, message, reason="Conflict", details={"causes": causes})


def _is_key_field(path: Path) -> bool:
    """Whether `path` is a merge-key field of a list item (it goes only with its item)."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return f'"{path[-1][2:]}":' in path[-2]
