"""In a pod, rise reaches the API with its service account: no kubeconfig.

The service account directory (token, ca.crt) and the KUBERNETES_SERVICE_HOST/PORT variables
are injected, so nothing is written to /var/run. On the double, a TLS front with its own CA
stands in for the API server's certificate; on a real cluster (RISE_TEST_KUBECONFIG with a
token user) the kubeconfig's server, CA and token are laid out the way kubelet mounts them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from reconciler.runtimes.kubeapi import KubeApi, KubeError
from reconciler.runtimes.kubernetes import KubernetesRuntime
from tests.install._tls import TlsFront, write_certificates
from tests.reconciler.runtimes.helpers import KubeEnv, commit, make_env, project_files, wait_for
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube
TOKEN = "in-cluster-service-account-token"


@pytest.fixture
def pod(kube_target: KubeTarget, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(service account dir, environment) as a pod sees them."""
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    if kube_target.is_loopback:
        (folder / "token").write_text(TOKEN)
        with TlsFront(kube_target.loopback.port, folder) as front:
            yield (
                folder,
                {
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                    "KUBERNETES_SERVICE_PORT": str(front.port),
                },
            )
        return
    config = yaml.safe_load(kube_target.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"].get("token")
    if not token or "certificate-authority-data" not in cluster:
        pytest.skip("the in-cluster test needs a kubeconfig with a token and an embedded CA")
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    server = urlsplit(cluster["server"])
    yield (
        folder,
        {
            "KUBERNETES_SERVICE_HOST": server.hostname or "",
            "KUBERNETES_SERVICE_PORT": str(server.port or 443),
        },
    )


@pytest.fixture
def env(kube_target: KubeTarget, tmp_path: Path) -> Iterator[KubeEnv]:
    yield from make_env(kube_target, tmp_path)


def test_the_reconciler_works_through_the_service_account(
    pod: tuple[Path, dict[str, str]],
    env: KubeEnv,
    kube_target: KubeTarget,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    folder, environ = pod
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))  # never read
    api = KubeApi.from_kubeconfig(None, service_account_dir=folder, environ=environ)
    assert (
        api.host
        == f"https://{environ['KUBERNETES_SERVICE_HOST']}:" + (environ["KUBERNETES_SERVICE_PORT"])
    )
    reconciler = env.reconciler(KubernetesRuntime(api, installation=env.prefix))
    commit(env.repo, project_files("web"))

    def running() -> bool:
        status = reconciler.status("web")
        return status is not None and status.state == "running"

    def again() -> None:
        reconciler.signal("test")
        reconciler.run_pass()

    wait_for(running, again)
    assert env.get("Deployment", env.deployment_name("web", 1), env.namespace("web"))
    if kube_target.is_loopback:
        sent = [r for r in kube_target.requests() if r.user == TOKEN]
        assert len(sent) == sum(api.counts.values()), "every request carried the token"


def test_a_certificate_the_ca_does_not_sign_is_refused(
    pod: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, environ = pod
    other = tmp_path / "other"
    other.mkdir()
    write_certificates(other)  # a CA that signed nothing the server presents
    (folder / "ca.crt").write_bytes((other / "ca.crt").read_bytes())
    api = KubeApi.from_kubeconfig(None, service_account_dir=folder, environ=environ, timeout=5)
    with pytest.raises(KubeError) as failed:
        api.get("/api/v1/namespaces/default")
    assert failed.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in failed.value.message


def test_outside_a_pod_a_kubeconfig_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeError) as failed:
        KubeApi.from_kubeconfig(
            None, service_account_dir=tmp_path / "no-service-account", environ={}
        )
    assert "cannot load the default kubeconfig" in failed.value.message
