"""Objects the cluster puts into every namespace, told from objects a person put there.

Before deleting a namespace of a removed project, rise looks into it: anything a person (or
another tool) made keeps the namespace; what the cluster injects by itself does not. Every
namespace gets ``kube-root-ca.crt`` and the ``default`` ServiceAccount; OpenShift adds
``openshift-service-ca.crt``, Istio ``istio-ca-root-cert``, and so on. Such an object is
recognised by what wrote it (every manager in its ``managedFields`` is a cluster
controller), by an owner reference (it goes with its owner), or, when it carries no
``managedFields``, by its well-known name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Field managers of the control plane and of the meshes and distributions that inject objects.
CLUSTER_MANAGERS = frozenset(
    {
        "kube-controller-manager",
        "kube-apiserver",
        "kube-scheduler",
        "cluster-policy-controller",
        "openshift-controller-manager",
        "service-ca-operator",
        "pilot-discovery",
        "istiod",
    }
)
# (kind, name) of what distributions put into every namespace.
WELL_KNOWN = frozenset(
    {
        ("ServiceAccount", "default"),
        ("ServiceAccount", "builder"),
        ("ServiceAccount", "deployer"),
        ("ConfigMap", "kube-root-ca.crt"),
        ("ConfigMap", "openshift-service-ca.crt"),
        ("ConfigMap", "istio-ca-root-cert"),
    }
)


def injected(kind: str, item: Mapping[str, Any]) -> bool:
    """Whether the cluster made ``item`` by itself (it may go with its namespace)."""
    meta = item.get("metadata") or {}
    if meta.get("ownerReferences"):
        return True
    if kind == "Secret" and item.get("type") == "kubernetes.io/service-account-token":
        return True
    managers = {entry.get("manager") for entry in meta.get("managedFields") or []}
    if managers:
        return managers <= CLUSTER_MANAGERS
    return (kind, meta.get("name")) in WELL_KNOWN
