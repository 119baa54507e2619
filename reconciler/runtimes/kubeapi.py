"""Raw JSON requests to a Kubernetes API, counted and classified.

The typed models of the ``kubernetes`` package cost more than the requests themselves when a
resync lists 60,000 objects, and so did its request path (``transport.py``): the official
client reads the kubeconfig (TLS, auth, proxy), ``Transport`` sends plain JSON over urllib3.
Every request is counted by verb on the client side (``counts``), so "zero writes" can be
checked on any cluster, not just on the test double. Failures become ``KubeError`` with a
verdict: transient or not.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from reconciler.runtimes.transport import Transport

Obj = dict[str, Any]

APPLY_PATCH = "application/apply-patch+yaml"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Kind:
    """Where the API serves a kind: ``/api/v1/...`` or ``/apis/<group>/<version>/...``."""

    name: str
    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        root = "apis" if "/" in self.api_version else "api"  # core v1 lives under /api
        return f"/{root}/{self.api_version}"

    def collection(self, namespace: str | None = None) -> str:
        if self.namespaced and namespace:
            return f"{self.prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection(namespace)}/{quote(name, safe='')}"


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("Namespace", "v1", "namespaces", namespaced=False),
        Kind("ServiceAccount", "v1", "serviceaccounts"),
        Kind("Secret", "v1", "secrets"),
        Kind("ConfigMap", "v1", "configmaps"),
        Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
        Kind("Service", "v1", "services"),
        Kind("Pod", "v1", "pods"),
        Kind("LimitRange", "v1", "limitranges"),
        Kind("ResourceQuota", "v1", "resourcequotas"),
        Kind("Deployment", "apps/v1", "deployments"),
        Kind("StatefulSet", "apps/v1", "statefulsets"),
        Kind("DaemonSet", "apps/v1", "daemonsets"),
        Kind("Job", "batch/v1", "jobs"),
        Kind("CronJob", "batch/v1", "cronjobs"),
        Kind("Ingress", "networking.k8s.io/v1", "ingresses"),
        Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
        Kind("Role", "rbac.authorization.k8s.io/v1", "roles"),
        Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
        Kind("Lease", "coordination.k8s.io/v1", "leases"),
    )
}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KubeError(
            0,
            f"rise does not know where the Kubernetes API serves kind {name!r}; it manages "
            f"{', '.join(sorted(KINDS))}",
            transient=False,
        ) from None


class KubeError(Exception):
    """A request that failed. ``status`` 0: no answer (connection refused, dropped, timeout)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        transient: bool,
        reason: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.transient = transient
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class KubeApi:
    """JSON over the official client's ApiClient. Thread-safe; share one per process."""

    def __init__(self, api_client: Any, *, timeout: float = 30.0):
        self.api_client = api_client
        self.timeout = timeout
        self._transport = Transport(api_client.configuration)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        timeout: float = 30.0,
        service_account_dir: str | Path = SERVICE_ACCOUNT_DIR,
        environ: Mapping[str, str] | None = None,
    ) -> KubeApi:
        """A client from a kubeconfig file, or (no path, inside a pod) the service account:
        its token and CA in ``service_account_dir``, the API at KUBERNETES_SERVICE_HOST/PORT."""
        import yaml
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.config.incluster_config import InClusterConfigLoader

        env = os.environ if environ is None else environ
        folder = Path(service_account_dir)
        try:
            if path is None and env.get("KUBERNETES_SERVICE_HOST") and (folder / "token").exists():
                configuration = client.Configuration()  # not the process-wide default
                InClusterConfigLoader(
                    str(folder / "token"), str(folder / "ca.crt"), environ=env
                ).load_and_set(configuration)  # re-reads the rotated token every minute
                return cls(client.ApiClient(configuration), timeout=timeout)
            return cls(
                config.new_client_from_config(config_file=path, context=context), timeout=timeout
            )
        except (ConfigException, OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
            where = path or "the default kubeconfig (~/.kube/config or $KUBECONFIG)"
            raise KubeError(
                0, f"cannot load {where}: {exc}; pass a valid kubeconfig", transient=False
            ) from None

    @property
    def host(self) -> str:
        return self._transport.host

    @property
    def counts(self) -> dict[str, int]:
        """Requests sent so far, by verb: list, get, apply, create, update, delete."""
        with self._lock:
            return dict(self._counts)

    @property
    def writes(self) -> int:
        counts = self.counts
        return sum(n for verb, n in counts.items() if verb not in ("list", "get"))

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # -- verbs -----------------------------------------------------------------------------

    def get(self, path: str) -> Obj | None:
        """The object at ``path``, or None when there is none (404)."""
        reply = self.request("GET", path, verb="get", missing_ok=True)
        return reply.body if reply.status != 404 else None

    def list(
        self, path: str, *, label_selector: str | None = None, limit: int = 500
    ) -> Iterator[Obj]:
        """Every item of a collection, one page at a time (``limit``/``continue``)."""
        token: str | None = None
        while True:
            query = {"labelSelector": label_selector, "limit": str(limit), "continue": token}
            body = self.request("GET", path, query=query, verb="list").body
            yield from body.get("items") or []
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return

    def apply(self, path: str, body: bytes, *, manager: str) -> Obj:
        """Server-side apply of a JSON object (JSON is YAML), taking over conflicting fields."""
        query = {"fieldManager": manager, "force": "true"}
        reply = self.request(
            "PATCH", path, query=query, body=body, content_type=APPLY_PATCH, verb="apply"
        )
        return dict(reply.body)

    def delete(self, path: str, *, uid: str | None = None) -> bool:
        """Delete (background propagation); False when it was already gone.

        ``uid`` is a precondition: an object of the same name that someone made in the meantime
        is left alone (409).
        """
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        options["propagationPolicy"] = "Background"
        if uid:
            options["preconditions"] = {"uid": uid}
        reply = self.request("DELETE", path, body=options, verb="delete", missing_ok=True)
        return reply.status != 404

    def create(self, path: str, obj: Obj) -> Obj:
        return dict(self.request("POST", path, body=obj, verb="create").body)

    def replace(self, path: str, obj: Obj) -> Obj:
        return dict(self.request("PUT", path, body=obj, verb="update").body)

    # -- the one request function ----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        query: Mapping[str, str | None] | None = None,
        body: bytes | Obj | None = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> Reply:
        """One request; a dict ``body`` is sent as JSON, bytes as they are."""
        with self._lock:
            self._counts[verb] += 1
        # The client's default headers too: User-Agent, and Impersonate-User when set.
        headers = {**self.api_client.default_headers, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = {k: v for k, v in (query or {}).items() if v is not None}
        target = f"{path}?{urlencode(params)}" if params else path
        data_out = json.dumps(body).encode() if isinstance(body, dict) else body
        try:
            response = self._transport.request(
                method, target, body=data_out, headers=headers, timeout=self.timeout
            )
        except (http.client.HTTPException, OSError) as exc:
            raise KubeError(
                0,
                f"no answer from the Kubernetes API at {self.host}: {_short(exc)}",
                transient=True,
            ) from None
        status, data = response.status, response.data
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode("utf-8", "replace")
        if 200 <= status < 300 or (missing_ok and status == 404):
            return Reply(status, parsed)
        raise error_from(status, parsed, response.headers)


def error_from(status: int, body: Any, headers: Mapping[str, str] | None = None) -> KubeError:
    """A ``KubeError`` for an error answer, with the verdict the reconciler acts on.

    Transient: 429 (honouring Retry-After), 5xx, 409 (someone wrote first), 404 (the
    namespace is not there yet) and 403 NamespaceTerminating. Permanent: the API server
    rejected the object (400, 422, other 403s) or could not even type it (a 500 "failed to
    create typed patch object", capture 29): retrying the same object cannot help.
    """
    doc = body if isinstance(body, dict) else {}
    message = str(doc.get("message") or body or f"HTTP {status}")
    reason = doc.get("reason")
    causes = (doc.get("details") or {}).get("causes") or []
    retry_after = _retry_after(headers)
    if status == 429:
        return KubeError(status, message, transient=True, reason=reason, retry_after=retry_after)
    if status >= 500:
        typed = "failed to create typed patch object" in message
        return KubeError(status, message, transient=not typed, reason=reason)
    terminating = any(c.get("reason") == "NamespaceTerminating" for c in causes)
    transient = status in (404, 409) or (status == 403 and terminating)
    return KubeError(status, message, transient=transient, reason=reason)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc).splitlines()[0][:200]
