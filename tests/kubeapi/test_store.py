"""The double's storage: range reads in etcd key order, and LIST pages cut from them.

Whatever the objects, page size and selector, walking the continue tokens must give every
matching object exactly once, in key order, with the apiserver's remainingItemCount when no
selector filters.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.kubeapi import resources
from tests.support.kubeapi.store import Store, paginate

_NAMES = st.sampled_from(["a", "a-b", "a.b", "ab", "b", "web", "web-1", "z"])
_OBJECTS = st.lists(st.tuples(_NAMES, _NAMES, st.booleans()), max_size=40)


def _store(objects: list[tuple[str, str, bool]]) -> Store:
    store = Store()
    res = resources.by_kind("Service")
    for namespace, name, labelled in objects:
        labels = {"app": "x"} if labelled else {}
        meta = {"name": name, "namespace": namespace, "labels": labels}
        meta["resourceVersion"] = store.next_resource_version()
        store.put(res, {"metadata": meta})
    return store


def _walk(store: Store, namespace: str | None, limit: int, selected: bool) -> list[list[str]]:
    res = resources.by_kind("Service")

    def keep(obj: dict) -> bool:
        return not selected or bool(obj["metadata"]["labels"])

    pages: list[list[str]] = []
    token = None
    while True:
        page = paginate(
            lambda start: store.scan(res, namespace, start),
            lambda start: store.count(res, namespace, start),
            limit=limit,
            token=token,
            resource_version=store.resource_version,
            selected=selected,
            keep=keep,
        )
        keys = [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in page.items]
        pages.append(keys)
        if not selected and page.continue_token:
            assert page.remaining == store.count(res, namespace, _after(keys[-1]))
        token = page.continue_token
        if token is None:
            return pages
        assert len(keys) == limit  # a token only follows a full page


def _after(key: str) -> str:
    namespace, name = key.split("/")
    return f"/{namespace}/{name}\x00"


@settings(max_examples=200, deadline=None)
@given(
    _OBJECTS,
    st.one_of(st.none(), _NAMES),
    st.integers(min_value=1, max_value=7),
    st.booleans(),
)
def test_paging_gives_each_matching_object_once_in_key_order(
    objects: list[tuple[str, str, bool]], namespace: str | None, limit: int, selected: bool
) -> None:
    store = _store(objects)
    latest = {(ns, name): labelled for ns, name, labelled in objects}  # a put replaces
    wanted = sorted(
        (f"/{ns}/{name}", f"{ns}/{name}")
        for (ns, name), labelled in latest.items()
        if (namespace is None or ns == namespace) and (labelled or not selected)
    )
    pages = _walk(store, namespace, limit, selected)
    assert [key for page in pages for key in page] == [shown for _, shown in wanted]


def test_a_namespace_range_does_not_take_in_namespaces_that_share_its_prefix() -> None:
    store = _store([("a", "x", True), ("a-b", "x", True), ("ab", "x", True), ("a", "y", True)])
    res = resources.by_kind("Service")
    assert [o["metadata"]["name"] for o in store.items(res, "a")] == ["x", "y"]
    assert store.count(res, "a") == 2
    # etcd key order: "/a-b/x" sorts before "/a/x" ("-" comes before "/").
    assert [o["metadata"]["namespace"] for o in store.items(res)] == ["a-b", "a", "a", "ab"]
