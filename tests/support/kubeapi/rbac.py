"""RBAC for impersonated requests, as kube-apiserver's RBAC authorizer decides them.

Opt-in by the client: a request carrying ``Impersonate-User`` (what ``kubectl --as`` sends,
and what a test sends to act as a service account) is authorized against the Roles and
ClusterRoles that the RoleBindings and ClusterRoleBindings stored in the double grant to that
user or its ``Impersonate-Group``s. Other requests are cluster-admin, like the loopback token,
so nothing changes for tests that do not impersonate.

- Verbs: get, list, watch, create, update, patch, delete, deletecollection, as the apiserver
  derives them from method and path. A server-side apply that creates the object also needs
  ``create`` (the apiserver checks it when a PATCH creates).
- ``resourceNames`` match only requests naming one object (never list or create).
- Discovery and health paths are allowed (``system:discovery``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from . import resources
from .errors import ApiError

_NON_RESOURCE = ("/api", "/apis", "/version", "/healthz", "/readyz", "/livez", "/openapi")


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, in RBAC's terms."""

    verb: str
    group: str
    resource: str  # plural, with "/subresource" when there is one
    namespace: str
    name: str | None

    def __str__(self) -> str:
        group = f".{self.group}" if self.group else ""
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource}{group}{where}"


class _Store(Protocol):
    def items(self, res: resources.Resource, namespace: str | None = None) -> list[Any]: ...

    def get(self, res: resources.Resource, namespace: str, name: str) -> Any: ...


def attributes(
    method: str, path: str, query: Mapping[str, list[str]], content_type: str | None
) -> Attributes | None:
    """The RBAC attributes of a resource request; None for discovery and other non-resource
    paths."""
    path = "/" + path.strip("/")
    if path in _NON_RESOURCE or not path.startswith(("/api/", "/apis/")):
        return None
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    # Resources the double does not serve are authorized too (then 404), as the apiserver
    # authorizes before it routes.
    name = rest[1] if len(rest) > 1 else None
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    watching = query.get("watch", [""])[0] in ("true", "1")
    verb = _verb(method, name is not None, watching)
    return Attributes(verb, group, resource, namespace, name)


def _verb(method: str, named: bool, watching: bool) -> str:
    if method in ("GET", "HEAD"):
        return "watch" if watching else ("get" if named else "list")
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return method.lower()


def needed(attrs: Attributes, *, applying: bool, exists: bool) -> list[Attributes]:
    """Every check a request needs: a server-side apply that creates also needs ``create``."""
    if applying and not exists:
        create = Attributes("create", attrs.group, attrs.resource, attrs.namespace, attrs.name)
        return [attrs, create]
    return [attrs]


def authorize(
    store: _Store,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
) -> None:
    """Raise 403 when an impersonated request is not allowed; do nothing otherwise."""
    user = headers.get("impersonate-user")
    if not user:
        return
    content_type = headers.get("content-type")
    attrs = attributes(method, path, query, content_type)
    if attrs is None:
        return
    groups = {g.strip() for g in headers.get("impersonate-group", "").split(",") if g.strip()}
    applying = method == "PATCH" and (content_type or "").startswith("application/apply-patch")
    exists = True
    if applying and attrs.name:
        res = _resource(attrs)
        exists = res is not None and store.get(res, attrs.namespace, attrs.name) is not None
    rules = list(rules_for(store, user, groups, attrs.namespace))
    for check in needed(attrs, applying=applying, exists=exists):
        if not any(allows(rule, check) for rule in rules):
            raise _forbidden(user, check)


def rules_for(
    store: _Store, user: str, groups: set[str], namespace: str
) -> Iterable[Mapping[str, Any]]:
    """The rules bound to ``user``/``groups``: cluster-wide, and in ``namespace``."""
    bindings = list(store.items(resources.by_kind("ClusterRoleBinding")))
    if namespace:
        bindings += store.items(resources.by_kind("RoleBinding"), namespace)
    for binding in bindings:
        if not any(_subject_is(s, user, groups) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        role_kind = ref.get("kind")
        if role_kind == "ClusterRole":
            role = store.get(resources.by_kind("ClusterRole"), "", ref.get("name", ""))
        else:
            where = binding["metadata"].get("namespace", "")
            role = store.get(resources.by_kind("Role"), where, ref.get("name", ""))
        yield from (role or {}).get("rules") or []


def allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return value in values or "*" in values

    if not (has("verbs", attrs.verb) and has("apiGroups", attrs.group)):
        return False
    if not has("resources", attrs.resource):
        return False
    names = rule.get("resourceNames") or []
    return not names or (attrs.name is not None and attrs.name in names)


def _subject_is(subject: Mapping[str, Any], user: str, groups: set[str]) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return user == f"system:serviceaccount:{subject.get('namespace')}:{name}"
    if kind == "User":
        return user == name
    return kind == "Group" and name in groups


def _resource(attrs: Attributes) -> resources.Resource | None:
    plural = attrs.resource.split("/")[0]
    for res in resources.table().values():
        if res.group == attrs.group and res.plural == plural:
            return res
    return None


def _forbidden(user: str, attrs: Attributes) -> ApiError:
    group = f".{attrs.group}" if attrs.group else ""
    subject = (
        f'{attrs.resource}{group} "{attrs.name}"' if attrs.name else f"{attrs.resource}{group}"
    )
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {attrs.verb} resource '
        f'"{attrs.resource}" in API group "{attrs.group}"{where}'
    )
    details: dict[str, Any] = {"group": attrs.group, "kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    return ApiError(403, message, "Forbidden", details)
