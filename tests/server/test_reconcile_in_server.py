"""The reconciler runs inside `rise server`: an API deploy reaches the runtime by itself."""

from __future__ import annotations

from typing import Any

from reconciler.runtimes.base import ObjectRef
from reconciler.runtimes.rendered import file_name
from reconciler.state import StateRepo
from tests.server.conftest import RunningServer, image
from tests.support.waiting import eventually


def test_an_api_deploy_is_reconciled_onto_the_rendered_branch(server: RunningServer) -> None:
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "shop", "visibility": "public"}, 201)
    deployed = admin.ok("POST", "/api/v1/projects/shop/deployments", {"image": image("shop")}, 201)
    repo = StateRepo(server.state_repo)

    deployment = ObjectRef("Deployment", "", f"shop-{deployed['id']}")
    path = f"projects/shop/{file_name(deployment)}"

    def rendered_deployment() -> bytes | None:
        return repo.read(path, "rendered") if "rendered" in repo.branches() else None

    manifest = eventually(rendered_deployment, timeout=20)
    assert image("shop").encode() in manifest
    # main holds only desired state: the reconciler wrote to its own branch.
    assert all("rendered" not in c.message for c in repo.log(limit=3))
    row = next(p for p in admin.ok("GET", "/api/v1/projects") if p["name"] == "shop")
    assert row["status"] in {"running", "deploying"}


def test_a_deploy_that_cannot_be_rendered_reports_failed_with_the_reason(
    server: RunningServer,
) -> None:
    admin = server.admin()
    # Private needs forward auth, and this server has no public_url to point it at.
    admin.ok("POST", "/api/v1/projects", {"name": "vault", "visibility": "private"}, 201)
    admin.ok("POST", "/api/v1/projects/vault/deployments", {"image": image("vault")}, 201)

    def failed() -> dict[str, Any] | None:
        detail = admin.ok("GET", "/api/v1/projects/vault")
        return detail if detail["status"] == "failed" else None

    detail = eventually(failed, timeout=20)
    assert "public_url" in (detail["deployment"]["reason"] or "")
    assert "project vault cannot be reconciled" in server.log()
