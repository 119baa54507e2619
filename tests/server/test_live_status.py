"""Live status through the whole server: API deploy → git → reconcile loop → Kubernetes →
status on the API, per project and per deployment.

Against ``kube_target`` (the loopback double, or a real cluster with RISE_TEST_KUBECONFIG and
RISE_TEST_APP_IMAGE naming an image the cluster can pull).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reconciler.runtimes.helpers import BROKEN_IMAGE, IMAGE
from tests.server.conftest import kube_server
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube

_DEPLOYMENTS = "/api/v1/projects/shop/deployments"


@pytest.fixture
def api(kube_target: KubeTarget, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server whose loop reconciles onto ``kube_target``, logged in as the admin."""
    with kube_server(kube_target.kubeconfig, tmp_path / "data", "shop") as http:
        yield http


def _deploy(http: httpx.Client, image: str) -> str:
    created = http.post(_DEPLOYMENTS, json={"image": image})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _history(http: httpx.Client) -> dict[str, dict[str, Any]]:
    rows = http.get(_DEPLOYMENTS)
    assert rows.status_code == 200, rows.text
    return {row["id"]: row for row in rows.json()}


def _when(http: httpx.Client, wanted: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The history once each deployment id in ``wanted`` has the status it names."""

    def check() -> dict[str, dict[str, Any]] | None:
        rows = _history(http)
        got = {d: rows[d]["status"] for d in wanted if d in rows}
        return rows if got == wanted else None

    found: dict[str, dict[str, Any]] = eventually(check, timeout=180)
    return found


def test_each_deployment_shows_what_the_loop_last_saw_of_it(
    kube_target: KubeTarget, api: httpx.Client
) -> None:
    if kube_target.is_loopback:
        kube_target.unpullable_image(BROKEN_IMAGE)  # as a real kubelet fails to pull it
    first = _deploy(api, IMAGE)
    _when(api, {first: "running"})

    broken = _deploy(api, BROKEN_IMAGE)
    rows = _when(api, {broken: "failed", first: "running"})
    assert rows[broken]["reason"].split(":")[0] in ("ImagePullBackOff", "ErrImagePull")
    assert rows[broken]["reason"].endswith(f"{first} keeps serving")
    assert rows[first]["reason"] == f"serving until {broken} is available"
    project = api.get("/api/v1/projects/shop").json()
    assert (project["status"], project["deployment_id"]) == ("failed", broken)

    fixed = _deploy(api, IMAGE)
    rows = _when(api, {fixed: "running", first: "stopped", broken: "stopped"})
    assert rows[first]["reason"] == rows[broken]["reason"] == f"replaced by {fixed}"
    assert api.get("/api/v1/projects/shop").json()["status"] == "running"
