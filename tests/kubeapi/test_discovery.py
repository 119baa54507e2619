"""Discovery documents (captures 01-06) and the dynamic client that is built on them."""

from __future__ import annotations

import pytest
from kubernetes import client, dynamic

from tests.kubeapi._kube import Kube, captured_response
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube


@pytest.mark.parametrize(
    ("path", "number"),
    [
        ("/api/v1", 3),
        ("/apis/apps/v1", 4),
        ("/apis/networking.k8s.io/v1", 5),
        ("/apis/coordination.k8s.io/v1", 6),
    ],
)
def test_resource_lists_match_the_captures(
    kube: Kube, kube_target: KubeTarget, path: str, number: int
) -> None:
    reply = kube.request("GET", path)
    assert reply.status == 200
    want = captured_response(number)
    assert reply.body["kind"] == "APIResourceList"
    assert reply.body["groupVersion"] == want["groupVersion"]
    got = {r["name"]: r for r in reply.body["resources"]}
    for resource in want["resources"]:
        if resource["name"] in ("deployments", "services", "leases", "ingresses", "namespaces"):
            assert got[resource["name"]]["kind"] == resource["kind"]
            assert got[resource["name"]]["namespaced"] == resource["namespaced"]
            assert set(got[resource["name"]]["verbs"]) == set(resource["verbs"])
    if kube_target.is_loopback:
        assert reply.body == want


def test_api_and_apis(kube: Kube, kube_target: KubeTarget) -> None:
    api = kube.request("GET", "/api").body
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = {g["name"]: g for g in kube.request("GET", "/apis").body["groups"]}
    for name in ("apps", "networking.k8s.io", "coordination.k8s.io"):
        want = next(g for g in captured_response(2)["groups"] if g["name"] == name)
        assert groups[name] == want
    if kube_target.is_loopback:
        host = kube.api_client.configuration.host.removeprefix("http://")
        assert api["serverAddressByClientCIDRs"][0]["serverAddress"] == host


def test_version(kube: Kube) -> None:
    info = client.VersionApi(kube.api_client).get_code()
    assert info.major == "1" and info.git_version.startswith("v1.")


def test_dynamic_client_applies_through_discovery(kube: Kube, kube_namespace: str) -> None:
    dyn = dynamic.DynamicClient(kube.api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    assert deployments.namespaced and leases.namespaced
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "via-dynamic", "namespace": kube_namespace},
        "data": {"a": "1"},
    }
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    applied = dyn.server_side_apply(configmaps, body=body, field_manager="rise")
    assert applied.metadata.managedFields[0].manager == "rise"
    listed = dyn.get(configmaps, namespace=kube_namespace)
    assert "via-dynamic" in [i.metadata.name for i in listed.items]


def test_unknown_paths_are_not_found(kube: Kube) -> None:
    reply = kube.request("GET", "/apis/apps/v1/widgets")
    assert reply.status == 404
    assert reply.body["reason"] == "NotFound"
