"""`rise review show` on the kubernetes runtime diffs against what is live, not against git:
a hand edit in the cluster shows up in the review's diff.

Against ``kube_target`` (the loopback double, or a real cluster with RISE_TEST_KUBECONFIG).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.render import RenderSettings
from reconciler.runtimes.installation import default_installation
from reconciler.runtimes.kubeapi import KubeApi
from reconciler.runtimes.kubernetes import KubernetesRuntime
from reconciler.server.forges import build_forge
from reconciler.server.pull_requests import PullRequestReviewer
from reconciler.state import StateRepo
from schemas.server import ForgeConfig
from tests.kubeapi._kube import Kube
from tests.reconciler.runtimes.helpers import IMAGE
from tests.server.conftest import image, kube_server
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube


@pytest.fixture
def api(kube_target: KubeTarget, tmp_path: Path) -> Iterator[httpx.Client]:
    with kube_server(kube_target.kubeconfig, tmp_path / "data", "live") as http:
        yield http


def test_the_review_diff_is_against_the_cluster(
    kube_target: KubeTarget, api: httpx.Client, tmp_path: Path
) -> None:
    deployed = api.post("/api/v1/projects/live/deployments", json={"image": IMAGE})
    assert deployed.status_code == 201, deployed.text
    deployment = f"live-{deployed.json()['id']}"
    namespace = "rise-live"
    eventually(lambda: api.get("/api/v1/projects/live").json()["status"] == "running", timeout=180)
    with kube_target.api_client() as client:  # someone scales it by hand
        Kube(client).request(
            "PATCH",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}",
            {"spec": {"replicas": 4}},
            content_type="application/merge-patch+json",
            query={"fieldManager": "kubectl-edit"},
        )
    opened = api.post(
        "/api/v1/projects/live/deployments", json={"image": image("live", 2), "review": True}
    )
    assert opened.status_code == 202, opened.text
    shown = api.get(f"/api/v1/reviews/live/{opened.json()['review']}").json()
    assert shown["compared_with"] == "live"
    diff = shown["diff"]
    assert f"- Deployment {namespace}/{deployment}" in diff  # blue/green: the old one goes
    assert "-  replicas: 4" in diff  # the hand edit, seen only in the cluster
    assert f"+ Deployment {namespace}/live-{opened.json()['review']}" in diff

    # A pull request with the same change gets the cluster's view too, per object.
    repo = StateRepo(tmp_path / "data" / "state.git")
    identity = default_installation(repo)  # the server's: it reads the objects it applied
    runtime = KubernetesRuntime(KubeApi(kube_target.api_client()), installation=identity)
    forge = ForgeConfig(
        kind="github", api_url="http://127.0.0.1:9", repository="a/b", token_env="X"
    )
    reviewer = PullRequestReviewer(
        repo,
        build_forge(forge, "unused"),
        RenderSettings,
        None,
        read_live=runtime.read_live,
    )
    body, problem = reviewer.comment_body(1, shown["head"])
    assert problem is None
    now = body.split("Compared with the cluster now")[1]
    assert f"- Deployment {namespace}/{deployment} (+0 -" in now
