"""GitLab's REST API (v4): merge request notes and commit statuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from reconciler.server.forges.base import STATUS_CONTEXT, ForgeClient, StatusState

_STATES = {"pending": "pending", "success": "success", "failure": "failed"}


class GitLabClient(ForgeClient):
    """``/projects/{id}/merge_requests/{iid}/notes[/{note}]`` and ``/statuses/{sha}``; the
    project id is its URL-encoded path."""

    kind = "gitlab"

    @property
    def _project(self) -> str:
        return quote(self.repository, safe="")

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def comments_path(self, number: int) -> str:
        return f"/projects/{self._project}/merge_requests/{number}/notes"

    def comment_path(self, number: int, comment_id: int) -> str:
        return f"{self.comments_path(number)}/{comment_id}"

    def update_method(self) -> str:
        return "PUT"

    def status_path(self, sha: str) -> str:
        return f"/projects/{self._project}/statuses/{sha}"

    def status_fields(self, state: StatusState) -> dict[str, Any]:
        return {"state": _STATES[state], "name": STATUS_CONTEXT}

    def pull_ref(self, number: int) -> str:
        return f"refs/merge-requests/{number}/head"
