"""Desired vs live objects → per-object diffs, like ``kubectl diff`` (docs/diff.md). Pure.

``normalise`` removes what the API server fills in by itself — status, bookkeeping metadata,
allocated addresses and the defaults seen in real responses (kube-reference captures 07, 08,
16-20) — so an object freshly applied from a manifest diffs empty against that manifest.
A default is removed only when the field holds exactly the default value, from either side,
so a real change to such a field still shows. Secret values are masked in everything this
module returns; a changed value shows as ``******** (before)`` / ``******** (after)``.
"""

from __future__ import annotations

import base64
import copy
import difflib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from reconciler.secrets import MASK
from reconciler.yaml_text import dump_yaml

Action = Literal["create", "update", "delete", "unchanged"]
Obj = dict[str, Any]

SPEC_HASH = "rise.dev/spec-hash"
SYMBOLS: dict[str, str] = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}
_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "~": "\x1b[33m", "@": "\x1b[36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"

_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",  # may hold a Secret in clear
    "deployment.kubernetes.io/revision",
)
_POD_DEFAULTS = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
}
_CONTAINER_DEFAULTS = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_DEPLOYMENT_DEFAULTS = {
    "strategy": {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    },
    "revisionHistoryLimit": 10,
    "progressDeadlineSeconds": 600,
}
_SERVICE_DEFAULTS = {
    "type": "ClusterIP",
    "sessionAffinity": "None",
    "internalTrafficPolicy": "Cluster",
    "externalTrafficPolicy": "Cluster",
    "allocateLoadBalancerNodePorts": True,
}


@dataclass(frozen=True)
class ObjectDiff:
    """What would happen to one object. ``before``/``after`` are normalised and masked."""

    action: Action
    kind: str
    namespace: str | None
    name: str
    before: Obj | None
    after: Obj | None
    unified: str

    @property
    def header(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{SYMBOLS[self.action]} {self.kind} {where}{self.name}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def normalise(obj: Obj) -> Obj:
    """A copy of ``obj`` without status, server bookkeeping and server-side defaults."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _SERVER_METADATA:
            meta.pop(key, None)
        _prune_map(meta, "annotations", _SERVER_ANNOTATIONS)
        _prune_map(meta, "labels", ())
    handler = _KINDS.get(out.get("kind", ""))
    if handler is not None:
        handler(out)
    return out


def diff_objects(
    desired: Iterable[Obj], live: Iterable[Obj], labels: tuple[str, str] = ("live", "desired")
) -> list[ObjectDiff]:
    """One diff per object: desired objects in their order, then deletions of the rest.

    ``labels`` name the two sides in the unified diff (e.g. two commits instead of live).
    Deletions come in the reverse of ``live``'s order, so pass live in dependency order.
    """
    remaining = {_key(obj): obj for obj in live}
    out = []
    for obj in desired:
        out.append(_diff(remaining.pop(_key(obj), None), obj, labels))
    for obj in reversed(list(remaining.values())):
        out.append(_diff(obj, None, labels))
    return out


def format_diff(diffs: Iterable[ObjectDiff], color: bool = False) -> str:
    """``kubectl diff``-like text: a header per changed object, its unified diff, a summary."""

    def full(diff: ObjectDiff) -> list[str]:
        lines = [_paint(diff.header, SYMBOLS[diff.action], color, bold=True)]
        for line in diff.unified.splitlines():
            if not line.startswith(("---", "+++")):
                lines.append(_paint(line, line[:1], color))
        return lines

    return _report(diffs, full)


def format_summary(diffs: Iterable[ObjectDiff], color: bool = False) -> str:
    """``format_diff`` for large changes: one line per changed object with its line counts
    (``~ Deployment ns/web (+3 -1)``), then the same totals line."""

    def counted(diff: ObjectDiff) -> list[str]:
        body = [line for line in diff.unified.splitlines() if not line.startswith(("---", "+++"))]
        added = sum(line.startswith("+") for line in body)
        removed = sum(line.startswith("-") for line in body)
        header = f"{diff.header} (+{added} -{removed})"
        return [_paint(header, SYMBOLS[diff.action], color, bold=True)]

    return _report(diffs, counted)


def _report(diffs: Iterable[ObjectDiff], show: Callable[[ObjectDiff], list[str]]) -> str:
    lines: list[str] = []
    counts = dict.fromkeys(SYMBOLS, 0)
    for diff in diffs:
        counts[diff.action] += 1
        if diff.action != "unchanged":
            lines.extend(show(diff))
    if counts["create"] + counts["update"] + counts["delete"] == 0:
        lines.append(f"No changes ({counts['unchanged']} objects unchanged).")
    else:
        lines.append(
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {counts['unchanged']} unchanged."
        )
    return "\n".join(lines) + "\n"


def to_json(diffs: Iterable[ObjectDiff]) -> list[dict[str, Any]]:
    """The diffs as JSON-ready data for machines (secret values masked as everywhere)."""
    return [diff.to_json() for diff in diffs]


# -- diffing -----------------------------------------------------------------------------


def _key(obj: Obj) -> tuple[str, str, str, str]:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]  # versions of one kind are equal
    meta = obj.get("metadata") or {}
    return group, str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name"))


def _diff(live: Obj | None, desired: Obj | None, labels: tuple[str, str]) -> ObjectDiff:
    ref = desired if desired is not None else live
    assert ref is not None
    meta = ref.get("metadata") or {}
    before, before_hash = _comparable(live)
    after, after_hash = _comparable(desired)
    if live is None:
        action: Action = "create"
    elif desired is None:
        action = "delete"
    elif before == after and (before_hash == after_hash or None in (before_hash, after_hash)):
        action = "unchanged"
    else:
        action = "update"
    before, after = _mask_pair(before, after)
    unified = "" if action == "unchanged" else _unified(before, after, labels, ref)
    if action == "update" and not unified:
        unified = (
            f"# only {SPEC_HASH} differs: a masked value changed, or another rise version "
            "applied the object\n"
        )
    return ObjectDiff(
        action=action,
        kind=str(ref.get("kind", "")),
        namespace=meta.get("namespace"),
        name=str(meta.get("name", "")),
        before=before,
        after=after,
        unified=unified,
    )


def _comparable(obj: Obj | None) -> tuple[Obj | None, str | None]:
    """The normalised object without rise's content hash, and that hash."""
    if obj is None:
        return None, None
    out = normalise(obj)
    annotations = out.get("metadata", {}).get("annotations") or {}
    digest = annotations.pop(SPEC_HASH, None)
    _prune_map(out.get("metadata", {}), "annotations", ())
    return out, digest


def _unified(before: Obj | None, after: Obj | None, labels: tuple[str, str], ref: Obj) -> str:
    meta = ref.get("metadata") or {}
    path = "/".join(p for p in (meta.get("namespace"), ref.get("kind"), meta.get("name")) if p)
    lines = difflib.unified_diff(
        _yaml(before).splitlines(),
        _yaml(after).splitlines(),
        fromfile=f"{labels[0]}/{path}",
        tofile=f"{labels[1]}/{path}",
        lineterm="",
    )
    return "".join(line + "\n" for line in lines)


def _yaml(obj: Obj | None) -> str:
    if obj is None:
        return ""
    return dump_yaml([obj], sort_keys=True)


def _paint(line: str, symbol: str, color: bool, bold: bool = False) -> str:
    code = _COLORS.get(symbol)
    if not color or code is None:
        return line
    return f"{_BOLD if bold else ''}{code}{line}{_RESET}"


# -- masking -------------------------------------------------------------------------------


def _mask_pair(before: Obj | None, after: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Secret values replaced by the mask, marking the keys whose values differ."""
    old = _secret_data(before)
    new = _secret_data(after)
    for key in set(old) | set(new):
        changed = key in old and key in new and old[key] != new[key]
        if key in old:
            old[key] = f"{MASK} (before)" if changed else MASK
        if key in new:
            new[key] = f"{MASK} (after)" if changed else MASK
    return before, after


def _secret_data(obj: Obj | None) -> dict[str, Any]:
    if obj is None or obj.get("kind") != "Secret" or not isinstance(obj.get("data"), dict):
        return {}
    return obj["data"]


# -- server defaults ---------------------------------------------------------------------


def _drop_defaults(target: Any, defaults: dict[str, Any]) -> None:
    if isinstance(target, dict):
        for key, value in defaults.items():
            if key in target and target[key] == value:
                del target[key]


def _prune_map(parent: Obj, key: str, drop: Iterable[str]) -> None:
    values = parent.get(key)
    if isinstance(values, dict):
        for name in drop:
            values.pop(name, None)
        if not values:
            del parent[key]


def _items(parent: Any, key: str) -> list[Any]:
    values = parent.get(key) if isinstance(parent, dict) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _pull_policy(image: str) -> str:
    """The API server's default: Always for ``:latest`` or untagged, IfNotPresent otherwise."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def _container(container: Obj) -> None:
    _drop_defaults(container, _CONTAINER_DEFAULTS)
    if isinstance(container.get("image"), str):
        _drop_defaults(container, {"imagePullPolicy": _pull_policy(container["image"])})
    for port in _items(container, "ports"):
        _drop_defaults(port, {"protocol": "TCP"})
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _drop_defaults(container.get(probe), _PROBE_DEFAULTS)
        _drop_defaults((container.get(probe) or {}).get("httpGet"), {"scheme": "HTTP"})
    for env in _items(container, "env"):
        _drop_defaults((env.get("valueFrom") or {}).get("fieldRef"), {"apiVersion": "v1"})


def _pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for container in _items(spec, "containers") + _items(spec, "initContainers"):
        _container(container)
    _drop_defaults(spec, _POD_DEFAULTS)
    if "serviceAccountName" in spec:  # the deprecated copy the server keeps in step
        _drop_defaults(spec, {"serviceAccount": spec["serviceAccountName"]})
    for volume in _items(spec, "volumes"):
        for source in ("secret", "configMap"):
            _drop_defaults(volume.get(source), {"defaultMode": 420})


def _pod_template(template: Any) -> None:
    if isinstance(template, dict):
        meta = template.get("metadata")
        if isinstance(meta, dict) and meta.get("creationTimestamp", 0) is None:
            del meta["creationTimestamp"]
        _pod_spec(template.get("spec"))


def _workload(obj: Obj) -> None:
    _pod_template((obj.get("spec") or {}).get("template"))


def _deployment(obj: Obj) -> None:
    _workload(obj)
    _drop_defaults(obj.get("spec"), _DEPLOYMENT_DEFAULTS)


def _cronjob(obj: Obj) -> None:
    job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
    _pod_template(job.get("template"))


def _service(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("clusterIP") != "None":  # allocated addresses; "None" is a headless choice
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    for key in ("ipFamilies", "ipFamilyPolicy"):  # chosen by the cluster's network setup
        spec.pop(key, None)
    _drop_defaults(spec, _SERVICE_DEFAULTS)
    for port in _items(spec, "ports"):
        _drop_defaults(port, {"protocol": "TCP", "targetPort": port.get("port")})
        port.pop("nodePort", None)  # allocated


def _namespace(obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get("kubernetes.io/metadata.name") == meta.get("name"):
        _prune_map(meta, "labels", ("kubernetes.io/metadata.name",))
    spec = obj.get("spec")
    _drop_defaults(spec, {"finalizers": ["kubernetes"]})
    if spec == {}:
        del obj["spec"]


def _network_policy(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for direction in ("ingress", "egress"):
        for rule in _items(spec, direction):
            for port in _items(rule, "ports"):
                _drop_defaults(port, {"protocol": "TCP"})
    _drop_defaults(spec, {"policyTypes": ["Ingress"] + (["Egress"] if spec.get("egress") else [])})


def _secret(obj: Obj) -> None:
    # stringData is write-only: the server folds it into base64 data (capture 18).
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    _drop_defaults(obj, {"type": "Opaque"})


_KINDS: dict[str, Callable[[Obj], None]] = {
    "Deployment": _deployment,
    "ReplicaSet": _workload,
    "StatefulSet": _workload,
    "DaemonSet": _workload,
    "Job": _workload,
    "CronJob": _cronjob,
    "Pod": lambda pod: _pod_spec(pod.get("spec")),
    "Service": _service,
    "Namespace": _namespace,
    "NetworkPolicy": _network_policy,
    "Secret": _secret,
}
