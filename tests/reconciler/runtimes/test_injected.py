"""What the cluster injects into a namespace, told from what a person put there (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.runtimes.injected import injected

_SA_TOKEN = "kubernetes.io/service-account-token"


def _obj(name: str, *managers: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if managers:
        meta["managedFields"] = [{"manager": m, "operation": "Update"} for m in managers]
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("kind", "item", "expected"),
    [
        ("ConfigMap", _obj("kube-root-ca.crt", "kube-controller-manager"), True),
        ("ConfigMap", _obj("openshift-service-ca.crt", "kube-controller-manager"), True),
        ("ConfigMap", _obj("istio-ca-root-cert", "pilot-discovery"), True),
        ("ServiceAccount", _obj("default", "kube-controller-manager"), True),
        ("ConfigMap", _obj("kube-root-ca.crt"), True),  # no managedFields: by its name
        ("ConfigMap", _obj("notes"), False),
        ("ConfigMap", _obj("notes", "kubectl-client-side-apply"), False),
        # A person edited an injected object: they have a stake in it now.
        ("ConfigMap", _obj("kube-root-ca.crt", "kube-controller-manager", "kubectl-label"), False),
        # A well-known name someone else wrote is theirs.
        ("ServiceAccount", _obj("default", "helm"), False),
        ("Pod", _obj("web-1", "kubelet", ownerReferences=[{"kind": "ReplicaSet"}]), True),
        ("Secret", {**_obj("app-token", "someone"), "type": _SA_TOKEN}, True),
    ],
)
def test_injected(kind: str, item: dict[str, Any], expected: bool) -> None:
    assert injected(kind, item) is expected
