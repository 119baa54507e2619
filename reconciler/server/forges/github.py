"""GitHub's REST API (and Gitea's, which follows it): issue comments and commit statuses."""

from __future__ import annotations

from typing import Any

from reconciler.server.forges.base import STATUS_CONTEXT, ForgeClient, StatusState


class GitHubClient(ForgeClient):
    """``/repos/{owner}/{repo}/issues/{n}/comments``, ``/issues/comments/{id}``,
    ``/statuses/{sha}``; a pull request is an issue for comments."""

    kind = "github"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    def comments_path(self, number: int) -> str:
        return f"/repos/{self.repository}/issues/{number}/comments"

    def comment_path(self, number: int, comment_id: int) -> str:
        return f"/repos/{self.repository}/issues/comments/{comment_id}"

    def status_path(self, sha: str) -> str:
        return f"/repos/{self.repository}/statuses/{sha}"

    def status_fields(self, state: StatusState) -> dict[str, Any]:
        return {"state": state, "context": STATUS_CONTEXT}

    def pull_ref(self, number: int) -> str:
        return f"refs/pull/{number}/head"


class GiteaClient(GitHubClient):
    """Gitea's API has GitHub's paths; it takes ``token`` auth and pages with ``limit``."""

    kind = "gitea"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def page_size_param(self) -> str:
        return "limit"
