"""Fault injection and the request log, as the official client experiences them (loopback only)."""

# The generated client models type every field Optional; these tests read known fields.
# mypy: disable-error-code="union-attr, arg-type, index"

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import urllib3
from kubernetes import client

from tests.kubeapi._kube import Kube, captured_body
from tests.support.kubeapi import Fault, LoopbackKubeAPI
from tests.support.kubeapi.fixtures import KubeTarget
from tests.support.waiting import eventually

pytestmark = pytest.mark.kube


@pytest.fixture
def server(kube_target: KubeTarget) -> LoopbackKubeAPI:
    return kube_target.loopback


def _apps(kube: Kube) -> client.AppsV1Api:
    return client.AppsV1Api(kube.api_client)


def _apply_captured(kube: Kube, namespace: str, **options: Any) -> Any:
    """Server-side apply of the captured Deployment `extra-0` (capture 21) as rise does."""
    return _apps(kube).patch_namespaced_deployment(
        "extra-0",
        namespace,
        captured_body(21, namespace),
        field_manager="rise",
        _content_type="application/apply-patch+yaml",
        **options,
    )


def test_internal_error_for_the_next_matching_request(
    kube: Kube, server: LoopbackKubeAPI, kube_namespace: str
) -> None:
    kube.apply(captured_body(21, kube_namespace))
    fault = server.inject(Fault.error(method="GET", path=r"/deployments/extra-0$"))
    with pytest.raises(client.ApiException) as err:
        _apps(kube).read_namespaced_deployment("extra-0", kube_namespace)
    assert err.value.status == 500
    body = json.loads(err.value.body)
    assert body["reason"] == "InternalError" and body["kind"] == "Status"
    assert body["message"] == "Internal error occurred: injected fault"
    assert fault.hits == 1 and fault.remaining == 0
    # Used up: the next request is answered normally.
    assert _apps(kube).read_namespaced_deployment("extra-0", kube_namespace).spec.replicas == 1
    record = server.requests(method="GET", path_re="extra-0")[0]
    assert (record.status, record.fault) == (500, "error")


def test_fault_matches_method_and_path_only(
    kube: Kube, server: LoopbackKubeAPI, kube_namespace: str
) -> None:
    fault = server.inject(Fault.error(503, method="PATCH", path=r"/services/", times=2))
    assert kube.apply(captured_body(21, kube_namespace)).status == 201
    assert kube.get("Service", "web", kube_namespace).status == 404
    first = kube.apply(captured_body(16, kube_namespace))
    assert first.status == 503 and first.body["reason"] == "ServiceUnavailable"
    assert kube.apply(captured_body(16, kube_namespace)).status == 503
    assert kube.apply(captured_body(16, kube_namespace)).status == 201
    assert fault.hits == 2


def test_throttle_is_429_with_retry_after(
    kube: Kube, server: LoopbackKubeAPI, kube_namespace: str
) -> None:
    server.inject(Fault.throttle(method="PATCH"))
    with pytest.raises(client.ApiException) as err:
        _apply_captured(kube, kube_namespace)
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "1"
    body = json.loads(err.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["details"] == {"retryAfterSeconds": 1}
    assert kube.get("Deployment", "extra-0", kube_namespace).status == 404  # nothing written


def test_delay_beyond_the_client_timeout(
    kube: Kube, server: LoopbackKubeAPI, kube_namespace: str
) -> None:
    server.inject(Fault.delay(0.6, method="PATCH"))
    started = time.monotonic()
    with pytest.raises((urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.MaxRetryError)):
        _apply_captured(kube, kube_namespace, _request_timeout=0.2)
    assert time.monotonic() - started < 0.55
    # The server still processes the write after its delay, like a slow real apiserver.
    eventually(lambda: kube.get("Deployment", "extra-0", kube_namespace).status == 200, 5)


def test_dropped_connection(kube: Kube, server: LoopbackKubeAPI, kube_namespace: str) -> None:
    server.inject(Fault.drop(method="PATCH"))
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)):
        _apply_captured(kube, kube_namespace)
    record = server.requests(method="PATCH")[-1]
    assert record.status is None and record.fault == "drop"
    assert kube.get("Deployment", "extra-0", kube_namespace).status == 404

    # urllib3 retries an idempotent GET after a drop on its own: the log shows both tries.
    server.clear_log()
    server.inject(Fault.drop(method="GET", path=r"/namespaces/[^/]+$"))
    assert client.CoreV1Api(kube.api_client).read_namespace(kube_namespace).metadata.name
    assert [r.status for r in server.requests(method="GET")] == [None, 200]


def test_request_log_and_writes(kube: Kube, server: LoopbackKubeAPI, kube_namespace: str) -> None:
    server.clear_log()
    kube.apply(captured_body(21, kube_namespace))
    kube.apply(captured_body(21, kube_namespace))  # no-op: a write request, not an effective one
    kube.apply(captured_body(22, kube_namespace), dry_run=True)
    kube.get("Deployment", "extra-0", kube_namespace)
    kube.list("Deployment", kube_namespace, labelSelector="rise.dev/project=demo")

    records = server.requests()
    assert [r.method for r in records] == ["PATCH", "PATCH", "PATCH", "GET", "GET"]
    first = records[0]
    assert first.path == f"/apis/apps/v1/namespaces/{kube_namespace}/deployments/extra-0"
    assert first.query == {"fieldManager": ["rise"]}
    assert first.field_manager == "rise"
    assert first.content_type == "application/apply-patch+yaml"
    assert first.status == 201 and first.timestamp <= time.time()
    assert json.loads(first.body)["metadata"]["name"] == "extra-0"
    assert records[2].dry_run and not records[2].is_write

    assert [r.status for r in server.writes()] == [201, 200]
    assert [r.status for r in server.writes(effective=True)] == [201]
    assert len(server.requests(path_re=r"/deployments$")) == 1
    assert server.requests(method="DELETE") == []
    server.clear_log()
    assert server.requests() == []


def test_faults_do_not_survive_reset(server: LoopbackKubeAPI) -> None:
    server.inject(Fault.error(method="GET"))
    server.reset()
    with server.api_client() as api_client:
        assert client.CoreV1Api(api_client).read_namespace("default").metadata.name == "default"
