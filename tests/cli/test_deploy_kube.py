"""``rise d c`` following a rollout on Kubernetes: a ``rise server`` subprocess whose loop
reconciles onto ``kube_target`` (the loopback API double, or a real cluster with
RISE_TEST_KUBECONFIG and RISE_TEST_APP_IMAGE naming an image it can pull).

A pinned ``--image`` is deployed as it is (no registry is asked), so these tests need no
registry; the build-and-push half is in test_deploy.py.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state import StateRepo
from schemas.api import DeploymentInfo
from tests.reconciler.runtimes.helpers import BROKEN_IMAGE, IMAGE
from tests.server.conftest import ADMIN_PASSWORD, RunningServer, start_server
from tests.support.deploy_stack import Cli
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.processes import interrupt
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube


@pytest.fixture
def kube_server(kube_target: KubeTarget, tmp_path: Path) -> Iterator[RunningServer]:
    config = tmp_path / "server.toml"
    prefix = f"d{uuid.uuid4().hex[:6]}"  # its own installation and namespaces on a shared cluster
    config.write_text(
        '[runtime]\nkind = "kubernetes"\nrollout_poll_seconds = 0.2\n'
        f'[kubernetes]\nkubeconfig = "{kube_target.kubeconfig}"\nleader_election = false\n'
        f'installation = "{prefix}"\nnamespace_format = "{prefix}-{{project}}"\n'
    )
    server = start_server(tmp_path / "data", args=("--config", str(config)))
    try:
        server.admin().ok("POST", "/api/v1/projects", {"name": "shop"}, 201)
        yield server
        server.admin().delete("/api/v1/projects/shop")  # a real cluster gets its namespace back
    finally:
        server.terminate()


@pytest.fixture
def cli(kube_server: RunningServer, tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "home")
    cli.login(kube_server.url, "admin", ADMIN_PASSWORD)
    return cli


def test_a_deploy_is_followed_to_running_on_kubernetes(cli: Cli) -> None:
    done = cli.rise("d", "c", "shop", "--image", IMAGE, "-o", "json")
    assert done.returncode == 0, done.stderr
    info = DeploymentInfo.model_validate_json(done.stdout)
    assert (info.status, info.image) == ("running", IMAGE)
    assert done.stderr.splitlines() == ["Deploying 'shop' ..."]  # a digest needs no lookup


def test_an_unpullable_image_ends_with_the_reason_and_exit_1(
    cli: Cli, kube_target: KubeTarget, kube_server: RunningServer
) -> None:
    if kube_target.is_loopback:
        kube_target.unpullable_image(BROKEN_IMAGE)  # as a real kubelet fails to pull it
    done = cli.rise("d", "c", "shop", "--image", BROKEN_IMAGE)

    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    failure, hint = done.stderr.splitlines()[-2:]
    deployment_id = failure.split()[1]
    reason = failure.split(" failed: ", 1)[1]
    assert failure.startswith(f"Deployment {deployment_id} of 'shop' failed: ")
    assert reason.split(":")[0] in ("ImagePullBackOff", "ErrImagePull")
    assert hint == f"hint: see more with 'rise d s shop {deployment_id}' and 'rise d ls shop'"
    # The deployment is committed (the failure is the rollout's), and show says the same.
    assert b"deploy shop " + deployment_id.encode() in b"\n".join(
        c.message.encode() for c in StateRepo(kube_server.state_repo).log(limit=3)
    )
    shown = cli.rise("d", "s", "shop", deployment_id)
    assert "status:" in shown.stdout and "failed" in shown.stdout
    assert reason in shown.stdout


def test_a_follow_timeout_says_how_to_resume(cli: Cli, kube_target: KubeTarget) -> None:
    kube_target.loopback.auto_tick = False  # the rollout makes no progress
    done = cli.rise("d", "c", "shop", "--image", IMAGE, "--timeout", "1")
    assert done.returncode == 1
    assert "after 1s; it goes on on the server" in done.stderr
    assert "hint: follow it again with 'rise d s shop " in done.stderr


def test_ctrl_c_while_following_only_stops_following(
    cli: Cli, kube_target: KubeTarget, kube_server: RunningServer
) -> None:
    kube_target.loopback.auto_tick = False  # the rollout waits until the test lets it go
    process = subprocess.Popen(
        cli.command("d", "c", "shop", "--image", IMAGE),
        cwd=cli.home,
        env=cli.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = "/api/v1/projects/shop/deployments"
    try:
        (row,) = eventually(lambda: kube_server.admin().ok("GET", path), timeout=60)
        time.sleep(1)  # the CLI has the answer to its POST and follows
    finally:
        out, err = interrupt(process)
    assert process.returncode == 130, err
    assert f"Stopped following deployment {row['id']} of 'shop'" in err
    assert f"hint: resume with 'rise d s shop {row['id']} --follow'" in err
    assert out == ""

    kube_target.loopback.auto_tick = True  # the rollout went on without the CLI
    resumed = cli.rise("d", "s", "shop", row["id"], "--follow")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("Deployment successful! Your app is now running at ")


def test_a_dry_run_compares_with_the_live_objects_so_drift_shows(
    cli: Cli, kube_target: KubeTarget
) -> None:
    """On Kubernetes the dry run diffs against what runs, not against git: a Deployment
    scaled by hand shows as the replicas line this deploy would set back."""
    from kubernetes import client

    from reconciler.render.context import DEPLOYMENT_ID

    done = cli.rise("d", "c", "shop", "--image", IMAGE, "-o", "json")
    assert done.returncode == 0, done.stderr
    info = DeploymentInfo.model_validate_json(done.stdout)
    same = cli.rise("d", "c", "shop", "--image", IMAGE, "--dry-run")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "(compared with the live objects)" in same.stderr

    apps = client.AppsV1Api(kube_target.api_client())
    (live,) = apps.list_deployment_for_all_namespaces(
        label_selector=f"{DEPLOYMENT_ID}={info.id}"
    ).items
    apps.patch_namespaced_deployment(
        live.metadata.name, live.metadata.namespace, {"spec": {"replicas": 3}}
    )
    drifted = cli.rise("d", "c", "shop", "--image", IMAGE, "--dry-run")
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert f"~ Deployment {live.metadata.namespace}/{live.metadata.name}" in drifted.stdout
    assert (
        "-  replicas: 3" in drifted.stdout.replace("- ", "-", 1) or "replicas: 3" in drifted.stdout
    )
