"""``POST /api/v1/projects/{p}/deployments?dry_run=true`` over HTTP against a running
``rise server``: the diff a deploy would make, secrets masked, the deploy's own checks, and
nothing committed."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.state import StateRepo
from schemas.api import DeploymentDryRun
from tests.server.conftest import RunningServer, image, server

__all__ = ["server"]  # the fixture used below

DEPLOYMENTS = "/api/v1/projects/{}/deployments"
SECRET_VALUE = "s3cr3t-value-that-must-not-leak"


def _dry_run(server: RunningServer, project: str, body: dict[str, Any]) -> Any:
    return server.admin().post(f"{DEPLOYMENTS.format(project)}?dry_run=true", body)


@pytest.fixture(scope="module")
def shop(server: RunningServer) -> str:
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "shop"}, 201)
    admin.ok("PUT", "/api/v1/projects/shop/env/API_KEY", {"value": SECRET_VALUE, "secret": True})
    app = {"project": "shop", "environments": {"staging": {"env": {"STAGE": "1"}}}}
    admin.ok("POST", DEPLOYMENTS.format("shop"), {"image": image("shop"), "app_config": app}, 201)
    return "shop"


def test_a_new_image_is_one_changed_line_and_nothing_is_committed(
    server: RunningServer, shop: str
) -> None:
    repo = StateRepo(server.state_repo)
    head = repo.head()
    answer = _dry_run(server, shop, {"image": image(shop, 1)})
    assert answer.status_code == 200, answer.text
    dry = DeploymentDryRun.model_validate(answer.json())
    assert (dry.changed, dry.base, dry.image) == (True, head, image(shop, 1))
    changed = [o for o in dry.objects if o.action != "unchanged"]
    assert [(o.action, o.kind) for o in changed] == [("update", "Deployment")]
    lines = [line for line in changed[0].unified.splitlines() if line[:1] in "+-"]
    assert [line[:1] for line in lines if not line.startswith(("---", "+++"))] == ["-", "+"]
    assert SECRET_VALUE not in answer.text  # masked on both sides
    assert any(o.kind == "Secret" for o in dry.objects)
    assert repo.head() == head


def test_the_same_deploy_again_changes_nothing(server: RunningServer, shop: str) -> None:
    dry = DeploymentDryRun.model_validate(_dry_run(server, shop, {}).json())  # current image
    assert not dry.changed
    assert {o.action for o in dry.objects} == {"unchanged"}


def test_the_deploys_own_checks_answer_first(server: RunningServer, shop: str) -> None:
    unknown = _dry_run(server, shop, {"image": image(shop), "environment": "stagign"})
    assert unknown.status_code == 400
    assert "did you mean 'staging'" in unknown.json()["message"].lower()
    tag = _dry_run(server, shop, {"image": "registry.rise.dev/shop:latest"})
    assert tag.status_code == 400 and "not pinned by digest" in tag.text
    bad = server.admin().post(f"{DEPLOYMENTS.format(shop)}?dry_run=maybe", {})
    assert bad.status_code == 400


def test_a_project_with_nothing_deployed_needs_the_image(server: RunningServer) -> None:
    server.admin().ok("POST", "/api/v1/projects", {"name": "empty"}, 201)
    answer = _dry_run(server, "empty", {})
    assert answer.status_code == 400
    assert answer.json()["hint"] == "give the image: rise d c --dry-run --image IMAGE"
    first = DeploymentDryRun.model_validate(_dry_run(server, "empty", {"image": image("e")}).json())
    assert first.changed and "create" in {o.action for o in first.objects}


def test_what_cannot_be_rendered_is_a_422_with_the_problems(server: RunningServer) -> None:
    admin = server.admin()
    # Private needs forward auth, and this server has no public_url to point it at.
    admin.ok("POST", "/api/v1/projects", {"name": "vault", "visibility": "private"}, 201)
    answer = _dry_run(server, "vault", {"image": image("vault")})
    assert answer.status_code == 422, answer.text
    assert any("public_url" in p for p in answer.json()["problems"])


def test_others_projects_stay_hidden(server: RunningServer, shop: str) -> None:
    stranger = server.user("stranger")
    answer = stranger.post(f"{DEPLOYMENTS.format(shop)}?dry_run=true", {"image": image(shop)})
    assert answer.status_code in (403, 404)
