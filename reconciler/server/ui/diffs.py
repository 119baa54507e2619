"""Diffs as the pages show them: one section per object, each line tagged for its colour
(the +/- at its start stays: colour is never the only cue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DiffLine:
    kind: str
    """add, del, hunk, file or same: a CSS class, and the +/- the text itself starts with."""
    text: str


def diff_section(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": obj.get("action", ""),
        "kind": obj.get("kind", ""),
        "where": "/".join(p for p in (obj.get("namespace"), obj.get("name")) if p),
        "lines": diff_lines(str(obj.get("unified", ""))),
    }


def diff_lines(unified: str) -> list[DiffLine]:
    out = []
    for line in unified.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append(DiffLine(kind, line))
    return out
