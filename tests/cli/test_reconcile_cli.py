"""``rise reconcile`` as an operator runs it: --once against a cluster or the rendered branch,
and the long-running loop stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from reconciler.secrets import SecretBox
from reconciler.state import StateRepo
from tests.kubeapi._kube import Kube
from tests.reconciler.runtimes.helpers import commit, project_files
from tests.support.kubeapi.fixtures import KubeTarget


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["reconcile", *args], catch_exceptions=False)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    repo = StateRepo.init(tmp_path / "state.git")
    commit(repo, {**project_files("web"), **project_files("api")})
    return tmp_path / "state.git"


@pytest.fixture
def cluster(kube_target: KubeTarget, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A config file giving this test its own namespaces and lease; cleaned up after."""
    prefix = f"c{uuid.uuid4().hex[:6]}"
    config = tmp_path / "server.toml"
    config.write_text(
        f'[kubernetes]\nnamespace_format = "{prefix}-{{project}}"\nlease_name = "{prefix}"\n'
    )
    yield config, prefix
    with kube_target.api_client() as api_client:
        kube = Kube(api_client)
        for item in kube.list("Namespace").body["items"]:
            if item["metadata"]["name"].startswith(prefix + "-"):
                kube.delete("Namespace", item["metadata"]["name"])
        kube.delete("Lease", prefix, "default")


def test_once_on_the_rendered_branch_prints_one_line_and_exits_0(state: Path) -> None:
    first = _run("--state", str(state), "--once", "--runtime", "rendered")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("applied 12, unchanged 0, pruned 0, failed 0 (full pass 1, ")
    again = _run("--state", str(state), "--once", "--runtime", "rendered")
    assert again.stdout.startswith("applied 0, unchanged 12, pruned 0, failed 0")
    assert StateRepo(state).changed_projects(None, "rendered") == {"web", "api"}


def test_a_failing_project_is_named_and_exits_1_while_the_others_proceed(state: Path) -> None:
    commit(StateRepo(state), {"projects/api/deployment.toml": 'id = "latest"\n'})
    result = _run("--state", str(state), "--once", "--runtime", "rendered")
    assert result.exit_code == 1
    assert result.stdout.startswith("applied 6, unchanged 0, pruned 0, failed 1")
    assert "  api: failed: projects/api/deployment.toml: " in result.stderr


@pytest.mark.kube
def test_once_against_a_cluster_then_nothing_to_do(
    state: Path, kube_target: KubeTarget, cluster: tuple[Path, str]
) -> None:
    config, prefix = cluster
    args = ["--state", str(state), "--once", "--runtime", "kubernetes", "--config", str(config)]
    args += ["--kubeconfig", str(kube_target.kubeconfig)]
    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("applied 12, unchanged 0, pruned 0, failed 0")
    second = _run(*args)
    assert second.stdout.startswith("applied 0, unchanged 12, pruned 0, failed 0")
    with kube_target.api_client() as api_client:
        kube = Kube(api_client)
        assert kube.get("Namespace", f"{prefix}-web").status == 200
        lease = kube.get("Lease", prefix, "default").body
        assert lease["spec"]["holderIdentity"] == ""  # taken for the pass, then given back


@pytest.mark.kube
def test_secret_values_need_the_secrets_key(
    state: Path, kube_target: KubeTarget, cluster: tuple[Path, str], tmp_path: Path
) -> None:
    config, _ = cluster
    key = tmp_path / "secrets.key"
    box = SecretBox.from_file(key, create=True)
    token = box.encrypt("web", "API_TOKEN", "hunter2")
    commit(StateRepo(state), {"projects/web/env.toml": f'[secrets]\nAPI_TOKEN = "{token}"\n'})
    args = ["--state", str(state), "--once", "--runtime", "kubernetes", "--config", str(config)]
    args += ["--kubeconfig", str(kube_target.kubeconfig), "--no-leader-elect"]
    keyless = _run(*args)
    assert keyless.exit_code == 1
    assert "web: failed: projects/web/env.toml: has secret values" in keyless.stderr
    assert "--secrets-key" in keyless.stderr
    keyed = _run(*args, "--secrets-key", str(key))
    assert keyed.exit_code == 0, keyed.output


def test_an_unreachable_cluster_is_a_clear_error(state: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: x, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: x, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: x}}]\n"
    )
    result = _run(
        "--state",
        str(state),
        "--once",
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        str(kubeconfig),
        "--no-leader-elect",
    )
    assert result.exit_code == 1
    assert (
        "full pass 1 failed: listing Namespace objects: no answer: no answer from the "
        "Kubernetes API at http://127.0.0.1:9" in result.stderr
    )


def test_a_bad_kubeconfig_is_a_clear_error(state: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("not: [a kubeconfig\n")
    result = _run(
        "--state", str(state), "--once", "--runtime", "kubernetes", "--kubeconfig", str(kubeconfig)
    )
    assert result.exit_code == 1
    assert f"cannot load {kubeconfig}" in result.stderr


def test_the_loop_runs_until_sigterm_then_stops_cleanly(state: Path) -> None:
    command = [sys.executable, "-m", "cli.main", "reconcile", "--state", str(state)]
    command += ["--runtime", "rendered", "--interval", "5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("applied 12, unchanged 0, pruned 0, failed 0 (full pass 1")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "stopping" in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
    assert StateRepo(state).changed_projects(None, "rendered") == {"web", "api"}


def test_bad_flags_and_config_are_named(state: Path, tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("[runtime]\nworker = 2\n")
    result = _run("--state", str(state), "--once", "--config", str(config))
    assert result.exit_code == 1
    assert "unknown key 'worker'" in result.stderr and "'workers'" in result.stderr
    result = _run("--state", str(state), "--once", "--interval", "1")
    assert result.exit_code == 2 and "--interval" in result.stderr


@pytest.mark.kube
def test_once_does_nothing_while_another_replica_holds_the_lease(
    state: Path, kube_target: KubeTarget, cluster: tuple[Path, str]
) -> None:
    from reconciler.leader import LeaderElector
    from reconciler.runtimes.kubeapi import KubeApi

    config, prefix = cluster
    other = LeaderElector(KubeApi(kube_target.api_client()), name=prefix, identity="server-0")
    assert other.try_acquire_or_renew()
    result = _run(
        "--state",
        str(state),
        "--once",
        "--runtime",
        "kubernetes",
        "--config",
        str(config),
        "--kubeconfig",
        str(kube_target.kubeconfig),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"full pass 1 skipped: another replica holds the lease default/{prefix} (server-0)"
    )
    with kube_target.api_client() as api_client:
        assert Kube(api_client).get("Namespace", f"{prefix}-web").status == 404


def test_once_prints_each_failure_once(tmp_path: Path) -> None:
    repo = StateRepo.init(tmp_path / "state.git")
    files = project_files("web")
    files["projects/web/env.toml"] = '[vars]\nPORT = "80"\n'
    commit(repo, {**files, **project_files("api")})
    state = str(tmp_path / "state.git")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "reconcile",
            "--state",
            state,
            "--once",
            "--runtime",
            "rendered",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("PORT is set by rise") == 1, output
    assert "web: failed: projects/web/env.toml: PORT is set by rise" in result.stderr
