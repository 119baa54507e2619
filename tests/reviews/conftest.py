"""Fixtures of the review tests: a real ``rise server`` and a team whose project needs review."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.runtimes.base import ObjectRef
from reconciler.runtimes.rendered import file_name
from reconciler.state import StateRepo
from tests.server.conftest import Api, RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("reviews") / "data")
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def team(server: RunningServer) -> dict[str, Api]:
    """alice, bob and dave are in team devops; carol is not; and the admin."""
    people = {name: server.user(name) for name in ("alice", "bob", "dave", "carol")}
    people["admin"] = server.admin()
    server.admin().ok(
        "POST",
        "/api/v1/teams",
        {"name": "devops", "owners": ["alice"], "members": ["bob", "dave"]},
        201,
    )
    return people


def new_project(team: dict[str, Api], name: str, **settings: object) -> None:
    """alice creates it for team devops; an admin sets its policy (admins only may)."""
    team["alice"].ok("POST", "/api/v1/projects", {"name": name, "owner": "team:devops"}, 201)
    policy = {"settings": {"review": "required", **settings}}
    team["admin"].ok("PATCH", f"/api/v1/projects/{name}", policy)


def open_review(api: Api, project: str, image: str, **extra: object) -> dict[str, Any]:
    body = {"image": image, "review": True, **extra}
    created = api.ok("POST", f"/api/v1/projects/{project}/deployments", body, 202)
    assert created["status"] == "in_review" and created["review"] == created["id"]
    return created


def rendered_deployment(repo: StateRepo, project: str, deployment_id: str) -> bytes | None:
    """The Deployment manifest the rendered runtime wrote for ``deployment_id``, if any."""
    path = (
        f"projects/{project}/{file_name(ObjectRef('Deployment', '', f'{project}-{deployment_id}'))}"
    )
    return repo.read(path, "rendered") if "rendered" in repo.branches() else None
