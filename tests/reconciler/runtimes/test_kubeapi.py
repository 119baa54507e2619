"""Which API errors are worth retrying: the verdicts the loop's backoff acts on.

Bodies are the ones kube-apiserver v1.36.2 answered (captures 12, 26, 28-30), plus a 429.
"""

from __future__ import annotations

import pytest

from reconciler.runtimes.kubeapi import KINDS, KubeError, error_from, kind
from tests.kubeapi._kube import capture


@pytest.mark.parametrize(
    ("number", "transient", "why"),
    [
        (29, False, "a type error in an apply patch (500 failed to create typed patch object)"),
        (30, False, "an invalid name (422 Invalid)"),
        (12, True, "a field manager conflict (409): someone wrote first"),
        (28, True, "a stale resourceVersion (409)"),
        (26, True, "not found (404): the namespace may not be there yet"),
    ],
)
def test_captured_errors(number: int, transient: bool, why: str) -> None:
    response = capture(number)["response"]
    error = error_from(response["status"], response["body"])
    assert error.transient is transient, why
    assert error.message == response["body"]["message"]


def test_throttling_honours_retry_after_and_server_errors_are_transient() -> None:
    throttled = error_from(429, {"message": "too many requests"}, {"Retry-After": "7"})
    assert throttled.transient and throttled.retry_after == 7.0
    assert error_from(503, {"message": "etcdserver: leader changed"}).transient
    assert error_from(500, "not even JSON").transient


def test_a_terminating_namespace_is_waited_out_but_other_refusals_are_not() -> None:
    causes = [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]
    terminating = error_from(403, {"message": "forbidden", "details": {"causes": causes}})
    assert terminating.transient
    assert not error_from(403, {"message": "rise cannot patch deployments"}).transient
    assert not error_from(400, {"message": "bad request"}).transient


def test_paths_for_core_and_grouped_kinds() -> None:
    assert kind("Namespace").path("rise-web") == "/api/v1/namespaces/rise-web"
    assert kind("Service").collection("ns") == "/api/v1/namespaces/ns/services"
    assert kind("Deployment").collection() == "/apis/apps/v1/deployments"
    assert kind("Lease").path("l", "default") == (
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/l"
    )
    assert all(k.plural.islower() for k in KINDS.values())


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KubeError, match="does not know where the Kubernetes API serves kind"):
        kind("Widget")
