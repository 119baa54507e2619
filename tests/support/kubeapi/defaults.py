"""Server-side defaulting, as seen in captures 07, 08, 16, 17, 18, 20.

Every function fills only what is missing, so running it on every write is idempotent; that is
what lets a re-apply of the undefaulted manifest come out equal to the stored object (no-op).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from typing import Any

_Obj = dict[str, Any]


def apply_defaults(obj: _Obj, old: _Obj | None, allocate_ip: Callable[[], str]) -> None:
    """Default `obj` in place. `old` is the stored object on updates (allocations carry over)."""
    handler = _BY_KIND.get(obj.get("kind", ""))
    if handler is _service:
        _service(obj, old, allocate_ip)
    elif handler is not None:
        handler(obj)


def image_pull_policy(image: str) -> str:
    """Always for `:latest` or untagged images, IfNotPresent otherwise (digests count as tagged)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _probe(probe: _Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("scheme", "HTTP")


def _container(c: _Obj) -> None:
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(name), dict):
            _probe(c[name])
    for env in c.get("env") or []:
        ref = env.get("valueFrom", {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def _volume(v: _Obj) -> None:
    for source in ("secret", "configMap"):
        if isinstance(v.get(source), dict):
            v[source].setdefault("defaultMode", 420)


def pod_spec(spec: _Obj) -> None:
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _container(c)
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            _volume(v)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    if "serviceAccountName" in spec:
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _workload(obj: _Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])
    obj.setdefault("status", {})


def _deployment(obj: _Obj) -> None:
    _workload(obj)
    spec = obj["spec"]
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _pod(obj: _Obj) -> None:
    if isinstance(obj.get("spec"), dict):
        pod_spec(obj["spec"])
        obj["spec"].setdefault("enableServiceLinks", True)
        obj["spec"].setdefault("preemptionPolicy", "PreemptLowerPriority")
        obj["spec"].setdefault("priority", 0)


def _service(obj: _Obj, old: _Obj | None, allocate_ip: Callable[[], str]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if spec["type"] != "ExternalName":
        # Allocated values survive an update that leaves them out (the registry copies them).
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
        if not spec.get("clusterIP"):
            spec["clusterIP"] = allocate_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    else:
        spec.setdefault("sessionAffinity", "None")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        old_ports = {p.get("port"): p for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for i, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict) and "nodePort" not in port:
                previous = old_ports.get(port.get("port"), {}).get("nodePort")
                seed = zlib.crc32(f"{spec['clusterIP']}/{i}".encode())
                port["nodePort"] = previous or 30000 + seed % 2768
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {"loadBalancer": {}})


def _ingress(obj: _Obj) -> None:
    obj.setdefault("status", {"loadBalancer": {}})


def _network_policy(obj: _Obj) -> None:
    spec = obj.setdefault("spec", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if "policyTypes" not in spec:
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _secret(obj: _Obj) -> None:
    # stringData is write-only: folded into base64 `data`, never stored or returned (18).
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    obj.setdefault("type", "Opaque")


def _namespace(obj: _Obj) -> None:
    name = obj.get("metadata", {}).get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


_BY_KIND: dict[str, Callable[..., None]] = {
    "Deployment": _deployment,
    "ReplicaSet": _workload,
    "Pod": _pod,
    "Service": _service,
    "Ingress": _ingress,
    "NetworkPolicy": _network_policy,
    "Secret": _secret,
    "Namespace": _namespace,
}
