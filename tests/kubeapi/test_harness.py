"""The harness itself: fixtures, the real-cluster switch, kubeconfig, out-of-process mode."""

# The generated client models type every field Optional; these tests read known fields.
# mypy: disable-error-code="union-attr, arg-type, index"

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.support.kubeapi import LoopbackKubeAPI
from tests.support.kubeapi.fixtures import KUBECONFIG_ENV, KubeTarget

ROOT = Path(__file__).resolve().parents[2]


def test_kubeconfig_loads_in_the_official_client(tmp_path: Path) -> None:
    with LoopbackKubeAPI() as server:
        path = server.write_kubeconfig(tmp_path / "kc")
        loaded = client.Configuration()
        config.load_kube_config(config_file=str(path), client_configuration=loaded)
        assert loaded.host == server.url
        with config.new_client_from_config(config_file=str(path)) as api_client:
            names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
        assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
        assert server.requests()[0].path == "/api/v1/namespaces"


def test_real_cluster_target_skips_loopback_helpers(tmp_path: Path) -> None:
    target = KubeTarget(tmp_path / "real-kubeconfig", None)
    assert not target.is_loopback
    for use in (lambda: target.loopback, lambda: target.inject, lambda: target.writes()):
        with pytest.raises(pytest.skip.Exception, match=KUBECONFIG_ENV):
            use()
    with pytest.raises(AttributeError):
        target.no_such_helper  # noqa: B018


def test_kube_target_is_the_loopback_by_default(kube_target: KubeTarget) -> None:
    if os.environ.get(KUBECONFIG_ENV):
        pytest.skip("a real cluster is configured")
    assert kube_target.is_loopback
    assert kube_target.kubeconfig.read_text().count(kube_target.loopback.url) == 1
    assert kube_target.writes() == []


def test_reset_forgets_state(kube_api: LoopbackKubeAPI) -> None:
    kube_api.seed(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
    )
    assert kube_api.get_object("configmaps", "x", "default") is not None
    rv = kube_api.resource_version
    kube_api.reset()
    assert kube_api.get_object("configmaps", "x", "default") is None
    assert kube_api.resource_version > rv  # the counter never goes back
    names = [n["metadata"]["name"] for n in kube_api.list_objects("namespaces")]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_runs_out_of_process(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.kubeapi",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
            assert api_client.configuration.host == url
            assert client.CoreV1Api(api_client).read_namespace("default").status.phase == "Active"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
