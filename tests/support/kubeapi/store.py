"""Object storage: objects by resource, one global resourceVersion counter, list pagination.

Not thread-safe by itself; the API layer serialises access with one lock, as etcd's single
revision counter serialises writes in a real cluster.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .resources import Resource

_Obj = dict[str, Any]
_Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

# How many changes the feed keeps for watches that resume from a resourceVersion.
_FEED_LENGTH = 10_000


@dataclass(frozen=True)
class Change:
    """One entry of the change feed that watches read: the object before and after."""

    resource_version: int
    res: Resource
    old: _Obj | None
    new: _Obj | None  # None: deleted (then `old` carries the deletion's resourceVersion)


def _sort_key(namespace: str, name: str) -> str:
    # The storage key relative to the resource prefix, as the continue token spells it (24).
    return f"/{namespace}/{name}" if namespace else f"/{name}"


class Store:
    def __init__(self, first_resource_version: int = 100) -> None:
        self._objects: dict[tuple[str, str], dict[_Key, _Obj]] = {}
        self._resources: dict[tuple[str, str], Resource] = {}
        self._rv = first_resource_version
        self._feed: list[Change] = []
        self.epoch = 0  # bumped by clear(): open watches end

    @property
    def resource_version(self) -> int:
        return self._rv

    def next_resource_version(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _bucket(self, res: Resource) -> dict[_Key, _Obj]:
        slot = (res.group, res.plural)
        self._resources[slot] = res
        return self._objects.setdefault(slot, {})

    def get(self, res: Resource, namespace: str, name: str) -> _Obj | None:
        return self._bucket(res).get((namespace if res.namespaced else "", name))

    def put(self, res: Resource, obj: _Obj) -> None:
        """Store `obj` (its resourceVersion already set from `next_resource_version`)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace", "") if res.namespaced else ""
        bucket = self._bucket(res)
        old = bucket.get((namespace, meta["name"]))
        bucket[(namespace, meta["name"])] = obj
        self._record(Change(int(meta["resourceVersion"]), res, old, obj))

    def remove(self, res: Resource, namespace: str, name: str) -> _Obj | None:
        """Delete an object; like etcd, a deletion is a new revision."""
        obj = self._bucket(res).pop((namespace if res.namespaced else "", name), None)
        if obj is not None:
            rv = self.next_resource_version()
            gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}}
            self._record(Change(int(rv), res, gone, None))
        return obj

    def _record(self, change: Change) -> None:
        self._feed.append(change)
        if len(self._feed) > _FEED_LENGTH:
            del self._feed[: len(self._feed) - _FEED_LENGTH]

    def changes_since(self, resource_version: int) -> list[Change] | None:
        """Changes after `resource_version`, or None when the feed no longer reaches back."""
        if (
            len(self._feed) >= _FEED_LENGTH
            and self._feed[0].resource_version > resource_version + 1
        ):
            return None
        return [c for c in self._feed if c.resource_version > resource_version]

    def items(self, res: Resource, namespace: str | None = None) -> list[_Obj]:
        """Objects of `res`, in storage-key order; `namespace=None` means all namespaces."""
        bucket = self._bucket(res)
        keys = sorted(bucket, key=lambda k: _sort_key(*k))
        return [bucket[k] for k in keys if namespace is None or k[0] == namespace]

    def every(self) -> Iterator[tuple[Resource, _Obj]]:
        for slot, bucket in list(self._objects.items()):
            res = self._resources[slot]
            for obj in list(bucket.values()):
                yield res, obj

    def clear(self) -> None:
        self._objects.clear()
        self._feed.clear()
        self.epoch += 1


@dataclass
class Page:
    items: list[_Obj]
    continue_token: str | None
    remaining: int | None


def paginate(
    items: list[_Obj],
    *,
    limit: int | None,
    token: str | None,
    resource_version: int,
    namespaced: bool,
    selected: bool,
    keep: Callable[[_Obj], bool],
) -> Page:
    """Cut one page out of `items` (already in key order), filtering with `keep`.

    Like the apiserver, `remainingItemCount` is only given when no selector filters the list
    (capture 24 has a label selector and no count), and the continue token is the apiserver's
    base64 JSON `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\u0000"}`.
    """
    rv = resource_version
    start = ""
    if token:
        try:
            decoded = json.loads(base64.b64decode(token.encode()).decode())
            start, rv = decoded["start"], int(decoded["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, f"continue key is not valid: {exc}") from exc

    def key(obj: _Obj) -> str:
        meta = obj["metadata"]
        return _sort_key(meta.get("namespace", "") if namespaced else "", meta["name"])

    candidates = [o for o in items if key(o) >= start] if start else items
    if not limit or limit <= 0:
        return Page([o for o in candidates if keep(o)], None, None)
    page: list[_Obj] = []
    for index, obj in enumerate(candidates):
        if not keep(obj):
            continue
        if len(page) == limit:
            rest = candidates[index:]
            if not any(keep(o) for o in rest):
                break
            last = key(page[-1]) + "\x00"
            token_body = {"v": "meta.k8s.io/v1", "rv": rv, "start": last}
            encoded = base64.b64encode(
                json.dumps(token_body, separators=(",", ":")).encode()
            ).decode()
            remaining = None if selected else sum(1 for o in rest if keep(o))
            return Page(page, encoded, remaining)
        page.append(obj)
    return Page(page, None, None)
