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

from sortedcontainers import SortedDict

from .errors import ApiError
from .resources import Resource

_Obj = dict[str, Any]

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


def _key_range(namespace: str | None) -> tuple[str, str | None]:
    """The keys of one namespace's objects: from "/ns/" up to, not including, "/ns0" ("0"
    follows "/"), as etcd reads a prefix; with no namespace, every key."""
    if namespace is None:
        return "", None
    return f"/{namespace}/", f"/{namespace}0"


# Objects of one resource by storage key, kept in key order: a LIST page or a namespace's
# objects are a range read, as in etcd, not a sort of everything the resource holds.
_Bucket = SortedDict


class Store:
    def __init__(self, first_resource_version: int = 100) -> None:
        self._objects: dict[tuple[str, str], _Bucket] = {}
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

    def _bucket(self, res: Resource) -> _Bucket:
        slot = (res.group, res.plural)
        bucket = self._objects.get(slot)
        if bucket is None:
            self._resources[slot] = res
            bucket = self._objects[slot] = SortedDict()
        return bucket

    def get(self, res: Resource, namespace: str, name: str) -> _Obj | None:
        found: _Obj | None = self._bucket(res).get(
            _sort_key(namespace if res.namespaced else "", name)
        )
        return found

    def put(self, res: Resource, obj: _Obj) -> None:
        """Store `obj` (its resourceVersion already set from `next_resource_version`)."""
        meta = obj["metadata"]
        key = _sort_key(meta.get("namespace", "") if res.namespaced else "", meta["name"])
        bucket = self._bucket(res)
        old = bucket.get(key)
        bucket[key] = obj
        self._record(Change(int(meta["resourceVersion"]), res, old, obj))

    def remove(self, res: Resource, namespace: str, name: str) -> _Obj | None:
        """Delete an object; like etcd, a deletion is a new revision."""
        key = _sort_key(namespace if res.namespaced else "", name)
        obj = self._bucket(res).pop(key, None)
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
        return [obj for _, obj in self.scan(res, namespace)]

    def scan(
        self, res: Resource, namespace: str | None = None, start: str = ""
    ) -> Iterator[tuple[str, _Obj]]:
        """(storage key, object) of `res` from key `start` on, in key order, read lazily."""
        bucket = self._bucket(res)
        low, high = _key_range(namespace)
        keys = bucket.irange(max(low, start), high, inclusive=(True, False))
        return ((key, bucket[key]) for key in keys)

    def count(self, res: Resource, namespace: str | None = None, start: str = "") -> int:
        """How many objects `scan` would give, without reading them."""
        bucket = self._bucket(res)
        low, high = _key_range(namespace)
        end = len(bucket) if high is None else bucket.bisect_left(high)
        return max(0, end - bucket.bisect_left(max(low, start)))

    def in_namespace(self, namespace: str) -> Iterator[tuple[Resource, _Obj]]:
        """Every namespaced object in `namespace`, of every resource (a snapshot)."""
        for res in list(self._resources.values()):
            if res.namespaced:
                for _, obj in list(self.scan(res, namespace)):
                    yield res, obj

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
    scan: Callable[[str], Iterator[tuple[str, _Obj]]],
    count: Callable[[str], int],
    *,
    limit: int | None,
    token: str | None,
    resource_version: int,
    selected: bool,
    keep: Callable[[_Obj], bool],
) -> Page:
    """Cut one page out of `scan(start)` ((key, object) in key order), filtering with `keep`;
    `count(start)` says how many objects follow `start` (for `remainingItemCount`).

    Like the apiserver, `remainingItemCount` is only given when no selector filters the list
    (capture 24 has a label selector and no count), and the continue token is the apiserver's
    unpadded URL-safe base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\u0000"}`. Clients
    must treat it as opaque. A page that is full is followed by a token only when another
    object matches.
    """
    rv = resource_version
    start = ""
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            start, rv = decoded["start"], int(decoded["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, f"continue key is not valid: {exc}") from exc
    matching = ((key, obj) for key, obj in scan(start) if keep(obj))
    if not limit or limit <= 0:
        return Page([obj for _, obj in matching], None, None)
    page: list[_Obj] = []
    last = ""
    for key, obj in matching:
        if len(page) == limit:
            after = last + "\x00"
            token_body = {"v": "meta.k8s.io/v1", "rv": rv, "start": after}
            encoded = (
                base64.urlsafe_b64encode(json.dumps(token_body, separators=(",", ":")).encode())
                .decode()
                .rstrip("=")
            )
            return Page(page, encoded, None if selected else count(after))
        page.append(obj)
        last = key
    return Page(page, None, None)
