"""Helpers for the kube API tests: raw requests through the official client, and the captures.

Requests go through `kubernetes.client.ApiClient` (its serialisation, auth and urllib3
transport), but come back as status, headers and parsed JSON, so tests can compare bodies with
what kube-apiserver v1.36.2 answered in `captures/` (a copy of shared/kube-reference).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

CAPTURES = Path(__file__).with_name("captures")

_PATHS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Service": ("/api/v1", "services", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
}


def capture(number: int) -> dict[str, Any]:
    path = next(CAPTURES.glob(f"{number:02d}-*.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def captured_body(number: int, namespace: str) -> dict[str, Any]:
    """The request body of a capture, moved into `namespace`."""
    body = capture(number)["request"]["body"]
    text = body if isinstance(body, str) else json.dumps(body)
    out: dict[str, Any] = json.loads(text.replace('"rise-demo"', json.dumps(namespace)))
    return out


def captured_response(number: int) -> dict[str, Any]:
    out: dict[str, Any] = capture(number)["response"]["body"]
    return out


def collection_path(kind: str, namespace: str | None = None) -> str:
    prefix, plural, namespaced = _PATHS[kind]
    if namespaced and namespace:
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


def object_path(kind: str, name: str, namespace: str | None = None) -> str:
    return f"{collection_path(kind, namespace)}/{name}"


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any

    @property
    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = self.body.get("metadata", {})
        return out


class Kube:
    """Raw JSON requests through the official client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        query: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        serialized = self.api_client.param_serialize(
            method,
            path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*serialized, _request_timeout=timeout)
        data = response.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return Reply(response.status, response.headers, parsed)

    def apply(
        self,
        obj: dict[str, Any],
        *,
        manager: str = "rise",
        force: bool = False,
        dry_run: bool = False,
        strict: bool = False,
        name: str | None = None,
    ) -> Reply:
        meta = obj["metadata"]
        path = object_path(obj["kind"], name or meta["name"], meta.get("namespace"))
        return self.request(
            "PATCH",
            path,
            obj,
            content_type="application/apply-patch+yaml",
            query={
                "fieldManager": manager,
                "force": "true" if force else None,
                "dryRun": "All" if dry_run else None,
                "fieldValidation": "Strict" if strict else None,
            },
        )

    def get(self, kind: str, name: str, namespace: str | None = None) -> Reply:
        return self.request("GET", object_path(kind, name, namespace))

    def list(self, kind: str, namespace: str | None = None, **query: Any) -> Reply:
        return self.request("GET", collection_path(kind, namespace), query=query)

    def delete(self, kind: str, name: str, namespace: str | None = None, **query: Any) -> Reply:
        return self.request("DELETE", object_path(kind, name, namespace), query=query)


def rise_entry(obj: dict[str, Any], manager: str = "rise") -> dict[str, Any] | None:
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            return dict(entry)
    return None


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy without what differs between clusters (uids, times, versions, namespaces)."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"):
        meta.pop(key, None)
    return out
