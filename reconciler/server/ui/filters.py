"""The projects page's filters: search, status, team and owner, from the query string so a
filtered view is a link anyone can share (and works without JavaScript)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.api import ProjectRow
from schemas.errors import did_you_mean

STATUSES = ("deploying", "running", "failed", "stopped", "unknown", "invalid")
_MAX = 200


@dataclass(frozen=True)
class ProjectFilter:
    q: str = ""
    status: str = ""
    team: str = ""
    owner: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> tuple[ProjectFilter, list[str]]:
        """The filter, and what in the query was not understood (said on the page; the rest
        of the filter still applies)."""
        values = {k: params.get(k, "").strip()[:_MAX] for k in ("q", "status", "team", "owner")}
        problems = []
        if values["status"] and values["status"] not in STATUSES:
            guess = did_you_mean(values["status"], STATUSES)
            problems.append(
                f"unknown status {values['status']!r}; it is one of {', '.join(STATUSES)}{guess}"
            )
            values["status"] = ""
        return cls(**values), problems

    def matches(self, row: ProjectRow) -> bool:
        owner = row.owner or ""
        return (
            self.q.lower() in row.name.lower()
            and (not self.status or row.status == self.status)
            and (not self.team or owner == f"team:{self.team}")
            and (not self.owner or owner == self.owner)
        )

    def apply(self, rows: Iterable[ProjectRow]) -> list[ProjectRow]:
        return [row for row in rows if self.matches(row)]
