"""The ``rendered`` branch as a user takes it: a checkout applied with the real ``kubectl``.

``kubectl apply --server-side -R -f`` of the project folders must work on its first run (each
namespace before what goes in it), and ``kubectl apply -k`` of the checkout's root must take
the branch as it is. Against ``kube_target`` (the double, or RISE_TEST_KUBECONFIG).

The kubectl used is ``$RISE_TEST_KUBECTL`` (e.g. the lab's ``$LAB/bin/kubectl``) or the one on
PATH (CI installs Debian's ``kubernetes-client`` when it has none). Without one the test
skips, except in CI (``CI=true``), where that is a failure. ``apply -k`` of folders needs
kubectl >= 1.21 (its kustomize); Debian's kubectl 1.20 passes the ``-R -f`` test only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.desired import Renderer
from reconciler.loop import Reconciler
from reconciler.render import RenderSettings
from reconciler.runtimes.rendered import RenderedRuntime
from reconciler.state import StateRepo
from tests.kubeapi._kube import Kube
from tests.reconciler.runtimes.helpers import commit, deployment_id, project_files
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube


@pytest.fixture
def kubectl() -> str:
    found = os.environ.get("RISE_TEST_KUBECTL") or shutil.which("kubectl")
    if found is None:
        message = "no kubectl: set RISE_TEST_KUBECTL or put kubectl on PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def kube(kube_target: KubeTarget) -> Iterator[Kube]:
    with kube_target.api_client() as api_client:
        yield Kube(api_client)


@pytest.fixture
def prefix(kube: Kube, kube_target: KubeTarget) -> Iterator[str]:
    """This test's namespaces start with it; they are deleted afterwards."""
    prefix = f"k{uuid.uuid4().hex[:6]}"
    yield prefix
    if not kube_target.is_loopback:
        for item in kube.list("Namespace").body["items"]:
            if item["metadata"]["name"].startswith(prefix + "-"):
                kube.delete("Namespace", item["metadata"]["name"])


def _rendered_checkout(tmp_path: Path, prefix: str, projects: list[str]) -> Path:
    """A state repo with ``projects``, reconciled to its rendered branch, checked out."""
    repo = StateRepo.init(tmp_path / f"{prefix}.git")
    commit(repo, {k: v for p in projects for k, v in project_files(p).items()})
    settings = RenderSettings(namespace_format=f"{prefix}-{{project}}")
    runtime = RenderedRuntime(repo)
    report = Reconciler(repo, runtime, Renderer(settings, None, decrypt=False)).run_pass()
    assert not report.failed, report.failed
    checkout = tmp_path / f"{prefix}-checkout"
    checkout.mkdir()
    archive = subprocess.run(
        ["git", "--git-dir", repo.path, "archive", "rendered"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
    return checkout


def _kubectl(kubectl: str, target: KubeTarget, *args: str) -> subprocess.CompletedProcess[str]:
    # The double serves no OpenAPI documents, which kubectl's client-side validation
    # downloads; server-side apply types every object on the server anyway.
    check = ["--validate=false"] if target.is_loopback else []
    return subprocess.run(
        [kubectl, "--kubeconfig", str(target.kubeconfig), *args, *check],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _landed(kube: Kube, prefix: str, project: str) -> None:
    namespace = f"{prefix}-{project}"
    assert kube.get("Namespace", namespace).status == 200
    for kind, name in (("ServiceAccount", "app"), ("Service", "app"), ("Ingress", "app")):
        assert kube.get(kind, name, namespace).status == 200, (kind, name)
    deployment = kube.get("Deployment", f"{project}-{deployment_id(1)}", namespace)
    assert deployment.status == 200


def test_apply_recursively_of_a_checkout_works_on_the_first_run(
    kubectl: str, kube_target: KubeTarget, kube: Kube, prefix: str, tmp_path: Path
) -> None:
    checkout = _rendered_checkout(tmp_path, prefix, ["docs-site", "api"])
    files = sorted(p.name for p in (checkout / "projects" / "docs-site").iterdir())
    assert files[0] == f"00-namespace-{prefix}-docs-site.yaml"
    assert files[-1] == "Kustomization"
    result = _kubectl(
        kubectl,
        kube_target,
        "apply",
        "--server-side",
        "--field-manager=rise",
        "-R",
        "-f",
        str(checkout / "projects"),
    )
    assert result.returncode == 0, result.stderr
    for project in ("docs-site", "api"):
        _landed(kube, prefix, project)


def test_apply_k_takes_the_branch_as_it_is(
    kubectl: str, kube_target: KubeTarget, kube: Kube, prefix: str, tmp_path: Path
) -> None:
    checkout = _rendered_checkout(tmp_path, prefix, ["docs-site", "api"])
    root = (checkout / "Kustomization").read_text()
    assert "- projects/api\n- projects/docs-site\n" in root
    result = _kubectl(
        kubectl, kube_target, "apply", "--server-side", "--field-manager=rise", "-k", str(checkout)
    )
    assert result.returncode == 0, result.stderr
    for project in ("docs-site", "api"):
        _landed(kube, prefix, project)
