"""``rise install --apply``: server-side apply through the reconciler's client, idempotent.

Runs against the loopback API double, or a real cluster with RISE_TEST_KUBECONFIG (as an
installation of its own). The double's request log shows what was written; on a real cluster
the objects' generations and resourceVersions do.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cli.install.apply import install_kind
from tests.install.conftest import Installation, run_rise, values_text, write_values
from tests.support.kubeapi import Fault, LoopbackKubeAPI
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube


def apply(install: Installation) -> str:
    result = run_rise(
        "install",
        "--apply",
        "--values",
        str(install.values_file),
        "--kubeconfig",
        str(install.target.kubeconfig),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def versions(install: Installation) -> dict[str, str]:
    """The version of every object of the install: its generation where it has one (a
    controller updating the status changes the resourceVersion, not that), else the
    resourceVersion."""
    out = {}
    for obj in install.objects():
        meta = obj["metadata"]
        live = install.get(obj["kind"], meta["name"], meta.get("namespace"))
        assert live is not None, f"{obj['kind']} {meta['name']} was not applied"
        seen = live["metadata"]
        out[f"{obj['kind']}/{meta['name']}"] = str(
            seen.get("generation") or seen["resourceVersion"]
        )
    return out


def test_apply_creates_everything_then_a_second_run_writes_nothing(
    installation: Installation,
) -> None:
    first = apply(installation)
    count = len(installation.objects())
    assert f"{count} applied, 0 unchanged, keys created" in first
    before, keys = versions(installation), installation.keys()
    assert set(keys) >= {"secrets.key", "jwt.pem", "registry-ca.pem", "admin-password"}
    for value in keys.values():
        assert base64.b64decode(value).decode(errors="replace") not in first
        assert value not in first
    if installation.target.is_loopback:
        installation.target.clear_log()

    again = apply(installation)

    assert f"0 applied, {count} unchanged" in again and "keys created" not in again
    assert versions(installation) == before
    assert installation.keys() == keys, "the keys are created once and never replaced"
    if installation.target.is_loopback:
        assert installation.target.writes() == [], "a second apply sends no write at all"


def test_an_upgrade_applies_only_what_changed(installation: Installation) -> None:
    apply(installation)
    before = versions(installation)
    if installation.target.is_loopback:
        installation.target.clear_log()
    installation.rewrite('[resources]\nmemory_limit = "1Gi"\n')

    out = apply(installation)

    assert f"applied   Deployment {installation.values.namespace}/rise" in out
    assert "1 applied" in out
    after = versions(installation)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"Deployment/rise"}
    deployment = installation.get("Deployment", "rise", installation.values.namespace)
    assert deployment is not None
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "1Gi"
    if installation.target.is_loopback:
        [write] = installation.target.writes()
        assert write.method == "PATCH" and write.field_manager == "rise-install"
        assert write.path.endswith("/deployments/rise")


def test_a_hand_edit_is_put_back(installation: Installation) -> None:
    apply(installation)
    namespace = installation.values.namespace
    path = install_kind("ClusterRole").path(f"{namespace}-rise")
    role = installation.get("ClusterRole", f"{namespace}-rise")
    assert role is not None
    role["rules"] = role["rules"][:1]
    installation.api.replace(path, role)

    out = apply(installation)

    assert f"applied   ClusterRole {namespace}-rise" in out and "1 applied" in out
    fixed = installation.get("ClusterRole", f"{namespace}-rise")
    assert fixed is not None and len(fixed["rules"]) == 6


def test_bad_values_apply_nothing(kube_target: KubeTarget, tmp_path: Path) -> None:
    path = write_values(tmp_path / "values.toml", "replica = 2\n" + values_text("rise-test-bad"))
    if kube_target.is_loopback:
        kube_target.clear_log()
    result = run_rise(
        "install", "--apply", "--values", str(path), "--kubeconfig", str(kube_target.kubeconfig)
    )
    assert result.returncode == 2
    assert "unknown key 'replica'" in result.stderr and "did you mean 'replicas'" in result.stderr
    assert "nothing was printed or applied" in result.stderr
    if kube_target.is_loopback:
        assert kube_target.requests() == [], "not even a connection"


def test_an_unreachable_cluster_is_a_clear_error(
    kube_api_server: LoopbackKubeAPI, tmp_path: Path
) -> None:
    kubeconfig = kube_api_server.write_kubeconfig(tmp_path / "kubeconfig")
    kubeconfig.write_text(kubeconfig.read_text().replace(kube_api_server.url, "http://127.0.0.1:9"))
    result = run_rise("install", "--apply", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 6
    assert "cannot apply the install: no answer from the Kubernetes API at http://127.0.0.1:9" in (
        result.stderr
    )


def test_when_another_install_creates_the_keys_first_its_keys_stay(
    installation: Installation,
) -> None:
    installation.target.inject(
        Fault.error(409, method="POST", path="/secrets", message='"rise-keys" already exists')
    )
    out = apply(installation)
    assert "keys created" not in out and "applied, 0 unchanged" in out
    assert not [r for r in installation.target.writes() if r.method == "PUT"], "nothing replaced"


def test_a_missing_credentials_secret_is_named_with_the_fix_and_nothing_applied(
    bare_installation: Installation,
) -> None:
    result = run_rise(
        "install",
        "--apply",
        "--values",
        str(bare_installation.values_file),
        "--kubeconfig",
        str(bare_installation.target.kubeconfig),
    )
    namespace = bare_installation.values.namespace
    assert result.returncode == 2
    assert (
        f"credentials_secret names Secret {namespace}/state-credentials, which does not exist"
        in (result.stderr)
    )
    assert f"kubectl -n {namespace} create secret generic state-credentials" in result.stderr
    assert bare_installation.get("Namespace", namespace) is None, "nothing applied"
