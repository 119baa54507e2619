"""The resource table and discovery documents, both taken from the captured discovery (01-06).

Every listed top-level resource is served (plain CRUD for the ones the double does not model),
so a client walking discovery to list "everything" never meets a 404. `/apis` lists only the
groups whose resource lists were captured (apps, networking.k8s.io, coordination.k8s.io).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).with_name("_discovery.json")

# Kinds whose metadata.generation the apiserver maintains (Services, ConfigMaps... have none).
_GENERATION_KINDS = {
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
}

VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    has_status: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def tracks_generation(self) -> bool:
        return self.kind in _GENERATION_KINDS


@cache
def _documents() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_DATA.read_text())
    return data


def discovery(path: str, server_address: str) -> dict[str, Any] | None:
    """The discovery document for `path` (a copy), or None if the path is not discovery."""
    if path == "/version":
        return dict(VERSION_INFO)
    doc = _documents().get(path)
    if doc is None:
        return None
    doc = copy.deepcopy(doc)
    if path == "/api":
        doc["serverAddressByClientCIDRs"][0]["serverAddress"] = server_address
    return doc


@cache
def table() -> dict[tuple[str, str, str], Resource]:
    """(group, version, plural) -> Resource for every served top-level resource."""
    out: dict[tuple[str, str, str], Resource] = {}
    for doc in _documents().values():
        if doc.get("kind") != "APIResourceList":
            continue
        group, _, version = doc["groupVersion"].rpartition("/")
        names = {r["name"] for r in doc["resources"]}
        for r in doc["resources"]:
            if "/" in r["name"] or "list" not in r["verbs"]:
                continue
            out[(group, version, r["name"])] = Resource(
                group=group,
                version=version,
                plural=r["name"],
                kind=r["kind"],
                namespaced=r["namespaced"],
                has_status=f"{r['name']}/status" in names,
            )
    return out


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return table().get((group, version, plural))


def by_kind(kind: str) -> Resource:
    for resource in table().values():
        if resource.kind == kind:
            return resource
    raise KeyError(kind)


def by_name(name: str) -> Resource:
    """`deployments`, `deployments.apps`, `apps/v1/deployments` or `v1/pods` -> Resource."""
    parts = name.split("/")
    if len(parts) in (2, 3):
        found = lookup(*([""] * (3 - len(parts)) + parts))
        if found:
            return found
        raise KeyError(name)
    plural, _, group = name.partition(".")
    for resource in table().values():
        if resource.plural == plural and (not group or resource.group == group):
            return resource
    raise KeyError(name)
