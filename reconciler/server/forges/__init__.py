"""Forge clients (GitHub, Gitea, GitLab): rise's one comment on a pull request, and a status.

Each client is a few httpx calls against the forge's documented REST API. ``build_forge``
picks one from ``[forge]`` in the server config.
"""

from __future__ import annotations

import httpx

from reconciler.server.forges.base import MARKER, ForgeClient, ForgeError, StatusState
from reconciler.server.forges.github import GiteaClient, GitHubClient
from reconciler.server.forges.gitlab import GitLabClient
from schemas.server import ForgeConfig

__all__ = ["MARKER", "ForgeClient", "ForgeError", "StatusState", "build_forge"]


def build_forge(
    config: ForgeConfig, token: str, transport: httpx.BaseTransport | None = None
) -> ForgeClient:
    kinds: dict[str, type[ForgeClient]] = {
        "github": GitHubClient,
        "gitea": GiteaClient,
        "gitlab": GitLabClient,
    }
    return kinds[config.kind](config.api_url, config.repository, token, transport=transport)
