"""The API semantics, independent of HTTP: routing, verbs, apply, defaults, validation, dry run.

`ApiServer.handle()` takes a parsed request and returns a `Response`; `server.py` only moves
bytes. Everything runs under one lock, so each request sees and leaves a consistent state.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import yaml

from . import apply as ssa
from . import defaults, errors, rbac, resources, schema, selectors, validation
from .errors import ApiError
from .fieldpath import clone
from .resources import Resource
from .rollout import RolloutSimulator
from .store import Store, paginate

_Obj = dict[str, Any]
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# Namespaces every cluster starts with.
_SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower()

    @property
    def dry_run(self) -> bool:
        return "All" in self.query.get("dryRun", [])


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    wrote: bool = False
    # A watch: watch events (dicts) to stream, and None now and then while idle.
    stream: Iterator[dict[str, Any] | None] | None = None


@dataclass
class _Target:
    res: Resource
    namespace: str  # "" for cluster-scoped objects and all-namespace lists
    name: str | None
    subresource: str | None


def utc_now() -> datetime:
    return datetime.now(UTC)


class ApiServer:
    def __init__(
        self,
        *,
        server_address: str = "127.0.0.1:6443",
        clock: Callable[[], datetime] = utc_now,
        rollout_ticks: int = 1,
        auto_tick: bool = True,
        namespace_delete_delay: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.server_address = server_address
        self.clock = clock
        self.auto_tick = auto_tick
        self.namespace_delete_delay = namespace_delete_delay
        self.store = Store()
        self.rollout = RolloutSimulator(self, ticks_to_ready=rollout_ticks)
        self._ip_counter = 0
        self._terminating: dict[str, float] = {}  # namespace -> monotonic deletion time
        self.reset()

    # --- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object (the resourceVersion counter keeps counting, as etcd's does)."""
        with self.lock:
            self.store.clear()
            self.rollout.reset()
            self._terminating.clear()
            for name in _SYSTEM_NAMESPACES:
                self.create_internal(
                    resources.by_kind("Namespace"),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                    manager="kube-apiserver",
                )

    def now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def allocate_cluster_ip(self) -> str:
        # Deterministic but spread over 10.96.0.0/16 like the real allocator's picks (16).
        self._ip_counter += 1
        n = (self._ip_counter * 7919) % 65000 + 10
        return f"10.96.{n // 256}.{n % 256}"

    def tick(self) -> None:
        """One controller-manager step: finish namespace deletions, advance rollouts."""
        with self.lock:
            self._finalize_namespaces()
            self.rollout.tick()

    # --- entry point -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            with self.lock:
                self._finalize_namespaces()
                rbac.authorize(
                    self.store, request.method, request.path, request.query, request.headers
                )  # only requests that impersonate a user
                return self._route(request)
        except ApiError as exc:
            return Response(exc.code, exc.status(), dict(exc.headers))
        except Exception as exc:  # a bug in the double: say so instead of dropping the socket
            traceback.print_exc()
            error = errors.internal(f"loopback API double failed: {exc!r}")
            return Response(500, error.status())

    def _route(self, request: Request) -> Response:
        path = "/" + request.path.strip("/")
        if path in ("/healthz", "/readyz", "/livez"):
            return Response(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
        doc = resources.discovery(path, self.server_address)
        if doc is not None:
            if request.method != "GET":
                raise ApiError(405, f"the server does not allow this method on {path}")
            return Response(200, doc)
        target = self._parse_target(path)
        method = request.method
        if target.subresource:
            if target.subresource == "status" and method == "GET":
                return self._get(target)
            raise errors.unknown_resource()
        if method == "GET":
            if self.auto_tick:
                self.tick()
            if target.name is None:
                if request.param("watch") in ("true", "1"):
                    return self._watch(target, request)
                return self._list(target, request)
            return self._get(target)
        if target.name is None:
            if method == "POST":
                return self._create(target, request)
            if method == "DELETE":
                return self._delete_collection(target, request)
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if method == "PATCH":
            if request.content_type == APPLY:
                return self._apply(target, request)
            return self._patch(target, request)
        if method == "PUT":
            return self._replace(target, request)
        if method == "DELETE":
            return self._delete(target, request)
        raise ApiError(405, "the server does not allow this method on the requested resource")

    def _parse_target(self, path: str) -> _Target:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.unknown_resource()
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        res = resources.lookup(group, version, rest[0])
        if res is None or len(rest) > 3 or (namespace and not res.namespaced):
            raise errors.unknown_resource()
        name = rest[1] if len(rest) > 1 else None
        if name is not None and res.namespaced and not namespace:
            raise errors.unknown_resource()
        return _Target(res, namespace, name, rest[2] if len(rest) > 2 else None)

    # --- reads -------------------------------------------------------------------------

    def _get(self, t: _Target) -> Response:
        assert t.name is not None
        obj = self.store.get(t.res, t.namespace, t.name)
        if obj is None:
            raise errors.not_found(t.res.plural, t.res.group, t.name)
        return Response(200, obj)

    def _list(self, t: _Target, request: Request) -> Response:
        label_text, field_text = request.param("labelSelector"), request.param("fieldSelector")
        keep = self._selection(t, request)
        limit_text = request.param("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError as exc:
            raise ApiError(400, f"invalid limit: {limit_text}") from exc
        namespace = t.namespace if t.res.namespaced and t.namespace else None
        page = paginate(
            lambda start: self.store.scan(t.res, namespace, start),
            lambda start: self.store.count(t.res, namespace, start),
            limit=limit,
            token=request.param("continue"),
            resource_version=self.store.resource_version,
            selected=bool(label_text or field_text),
            keep=keep,
        )
        meta: _Obj = {"resourceVersion": str(self.store.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        # Items in a list carry no kind/apiVersion (24).
        items_out = [
            {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page.items
        ]
        return Response(
            200,
            {
                "kind": f"{t.res.kind}List",
                "apiVersion": t.res.api_version,
                "metadata": meta,
                "items": items_out,
            },
        )

    def _selection(self, t: _Target, request: Request) -> Callable[[_Obj], bool]:
        by_labels = selectors.label_selector(request.param("labelSelector"))
        by_fields = selectors.field_selector(request.param("fieldSelector"))
        namespace = t.namespace if t.res.namespaced and t.namespace else None

        def keep(obj: _Obj) -> bool:
            meta = obj["metadata"]
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            return by_labels(meta.get("labels") or {}) and by_fields(obj)

        return keep

    def _watch(self, t: _Target, request: Request) -> Response:
        """A watch: the current objects as ADDED (or changes after `resourceVersion`), then
        changes as they happen, until `timeoutSeconds` (default 1800) or a reset/stop."""
        keep = self._selection(t, request)
        since = request.param("resourceVersion")
        initial: list[dict[str, Any]] = []
        if since and since != "0":
            cursor = int(since)
            if self.store.changes_since(cursor) is None:
                raise ApiError(410, f"too old resource version: {cursor}", reason="Expired")
        else:
            cursor = self.store.resource_version
            initial = [
                {"type": "ADDED", "object": clone(o)} for o in self.store.items(t.res) if keep(o)
            ]
        timeout = float(request.param("timeoutSeconds") or 1800)
        stream = self._watch_events(t.res, keep, cursor, initial, time.monotonic() + timeout)
        return Response(200, None, stream=stream)

    def _watch_events(
        self,
        res: Resource,
        keep: Callable[[_Obj], bool],
        cursor: int,
        initial: list[dict[str, Any]],
        deadline: float,
    ) -> Iterator[dict[str, Any] | None]:
        yield from initial
        epoch = self.store.epoch
        while time.monotonic() < deadline:
            events = []
            with self.lock:
                if self.store.epoch != epoch:
                    return  # reset: the world this watch described is gone
                for change in self.store.changes_since(cursor) or []:
                    cursor = change.resource_version
                    if (change.res.group, change.res.plural) == (res.group, res.plural):
                        event = _watch_event(change.old, change.new, keep)
                        if event is not None:
                            events.append(clone(event))
            yield from events
            if not events:
                yield None
                time.sleep(0.02)

    # --- writes: shared steps ----------------------------------------------------------

    def _parse_body(self, request: Request, *, yaml_ok: bool = False) -> Any:
        text = request.body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError as exc:
            if not yaml_ok:
                raise ApiError(400, f"error decoding JSON: {exc}") from exc
        # Apply patches may be YAML proper; JSON (what clients send) was the fast path above.
        try:
            return yaml.load(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ApiError(400, f"error decoding YAML: {exc}") from exc

    def _manager(self, request: Request) -> str:
        manager = request.param("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("user-agent") or "unknown"
        return agent.split("/")[0] or "unknown"

    def _require_namespace(self, t: _Target, name: str) -> None:
        """Creating inside a namespace needs it to exist (404) and not be terminating (403)."""
        if not t.res.namespaced:
            return
        ns = self.store.get(resources.by_kind("Namespace"), "", t.namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", t.namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{errors.qualified(t.res.plural, t.res.group)} "{name}" is forbidden: unable to '
                f"create new content in namespace {t.namespace} because it is being terminated",
                details=errors.details(
                    name,
                    t.res.group,
                    t.res.plural,
                    causes=[
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {t.namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                ),
            )

    def _check_identity(self, t: _Target, obj: Any, *, url_name: str | None) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "the body of the request was in an unknown format")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != t.res.kind) or (api_version and api_version != t.res.api_version):
            raise ApiError(
                400,
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({t.res.api_version})"
                if api_version != t.res.api_version
                else f"the kind in the data ({kind}) does not match the expected kind "
                f"({t.res.kind})",
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        if url_name is not None:
            if meta.get("name") and meta["name"] != url_name:
                raise ApiError(
                    400,
                    f"the name of the object ({meta['name']}) does not match the name on the URL "
                    f"({url_name})",
                )
            meta["name"] = url_name
        if t.res.namespaced:
            if meta.get("namespace") and meta["namespace"] != t.namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request",
                )
            meta["namespace"] = t.namespace
        else:
            meta.pop("namespace", None)

    def _fit_schema(self, t: _Target, obj: _Obj, request: Request, *, applying: bool) -> list[str]:
        """Type errors and unknown fields: 500 for apply (29, 31), 400 otherwise.

        An apply patch cannot even be typed with a field the schema does not declare: 500
        whatever ``fieldValidation`` says (kube-apiserver 1.36 does the same). Other writes
        drop unknown fields with a warning (fieldValidation Warn, the default) and return
        those warnings.
        """
        node = schema.for_kind(t.res.kind)
        type_errors, unknown = validation.schema_problems(obj, node)
        strict = request.param("fieldValidation") == "Strict"
        problems = type_errors + (
            [f"{p}: field not declared in schema" for p in unknown] if strict or applying else []
        )
        name = obj.get("metadata", {}).get("name", "")
        if problems and applying:
            why = problems[0] if len(problems) == 1 else "errors:\n  " + "\n  ".join(problems)
            raise errors.typed_patch_error(t.namespace, name, t.res.api_version, t.res.kind, why)
        if type_errors:
            raise ApiError(
                400,
                f'{t.res.kind} in version "{t.res.version}" cannot be handled as a {t.res.kind}: '
                + type_errors[0],
            )
        if unknown and strict:
            fields = ", ".join(f'unknown field "{p.lstrip(".")}"' for p in unknown)
            raise ApiError(400, f"strict decoding error: {fields}")
        if unknown:
            validation.drop_unknown(obj, node)
        return [f'unknown field "{p.lstrip(".")}"' for p in unknown]

    def _validate(self, t: _Target, obj: _Obj, old: _Obj | None) -> None:
        causes = validation.object_causes(obj, old)
        if causes:
            raise errors.invalid(t.res.kind, t.res.group, obj["metadata"].get("name", ""), causes)

    def _finish(self, t: _Target, obj: _Obj, old: _Obj | None) -> None:
        defaults.apply_defaults(obj, old, self.allocate_cluster_ip)
        self._validate(t, obj, old)

    def _new_metadata(self, t: _Target, obj: _Obj) -> None:
        meta = obj["metadata"]
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ):
            meta.pop(key, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.now()
        if t.res.tracks_generation:
            meta["generation"] = 1

    def _commit(self, t: _Target, obj: _Obj, old: _Obj | None, *, dry_run: bool) -> _Obj:
        """Persist (or pretend to): bump generation and resourceVersion, notify controllers."""
        meta = obj["metadata"]
        if old is not None and t.res.tracks_generation and _spec_of(obj) != _spec_of(old):
            meta["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if dry_run:
            if old is None:
                meta.pop("resourceVersion", None)
            return obj
        meta["resourceVersion"] = self.store.next_resource_version()
        obj = _ordered(obj)
        self.store.put(t.res, obj)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and t.res.kind != "Namespace"
        ):
            self._remove(t.res, t.namespace, meta["name"])
        elif old is None:
            self._on_created(t.res, obj)
        self.rollout.observe_write(t.res, obj)
        return obj

    def _on_created(self, res: Resource, obj: _Obj) -> None:
        if res.kind != "Namespace":
            return
        # What the controller-manager puts in every new namespace.
        ns = obj["metadata"]["name"]
        self.create_internal(
            resources.by_kind("ServiceAccount"),
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns},
            },
            manager="kube-controller-manager",
        )
        self.create_internal(
            resources.by_kind("ConfigMap"),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "kube-root-ca.crt",
                    "namespace": ns,
                    "annotations": {"kubernetes.io/description": _ROOT_CA_NOTE},
                },
                "data": {
                    "ca.crt": "-----BEGIN CERTIFICATE-----\nloopback\n-----END CERTIFICATE-----\n"
                },
            },
            manager="kube-controller-manager",
        )

    def _record_update(self, t: _Target, request: Request, live: _Obj | None, obj: _Obj) -> None:
        """Record this non-apply write in managedFields, as an Update by its manager."""
        entries = ssa.record_update(
            live,
            obj,
            schema.for_kind(t.res.kind),
            manager=self._manager(request),
            api_version=t.res.api_version,
            now=self.now(),
        )
        ssa.write_entries(obj, entries)

    def _strip_status(self, t: _Target, obj: _Obj, old: _Obj | None) -> None:
        """Writes to the main resource do not change status where status is a subresource."""
        if not t.res.has_status:
            return
        obj.pop("status", None)
        if old is not None and "status" in old:
            obj["status"] = clone(old["status"])

    # --- writes: verbs -----------------------------------------------------------------

    def _create(self, t: _Target, request: Request) -> Response:
        obj = self._parse_body(request)
        self._check_identity(t, obj, url_name=None)
        warnings = self._fit_schema(t, obj, request, applying=False)
        name = obj["metadata"].get("name") or ""
        self._require_namespace(t, name)
        if name and self.store.get(t.res, t.namespace, name) is not None:
            raise errors.already_exists(t.res.plural, t.res.group, name)
        self._strip_status(t, obj, None)
        self._new_metadata(t, obj)
        self._finish(t, obj, None)
        self._record_update(t, request, None, obj)
        out = self._commit(t, obj, None, dry_run=request.dry_run)
        return Response(201, out, _warning_headers(warnings), wrote=not request.dry_run)

    def _apply(self, t: _Target, request: Request) -> Response:
        assert t.name is not None
        patch = self._parse_body(request, yaml_ok=True)
        manager = request.param("fieldManager")
        if not manager:
            raise ApiError(400, "PATCH /apply requires a non-empty fieldManager query parameter")
        self._check_identity(t, patch, url_name=t.name)
        if not patch.get("apiVersion") or not patch.get("kind"):
            raise ApiError(400, "apiVersion and kind must be set in an apply patch")
        wanted_rv = patch["metadata"].get("resourceVersion")
        warnings = self._fit_schema(t, patch, request, applying=True)
        live = self.store.get(t.res, t.namespace, t.name)
        if live is None:
            self._require_namespace(t, t.name)
        # A resourceVersion in an applied config is a precondition, as on PUT.
        if wanted_rv and (live is None or wanted_rv != live["metadata"]["resourceVersion"]):
            raise errors.stale(t.res.plural, t.res.group, t.name)
        if t.res.has_status:
            patch.pop("status", None)
        result = ssa.apply(
            live,
            patch,
            schema.for_kind(t.res.kind),
            manager=manager,
            api_version=t.res.api_version,
            force=request.param("force") in ("true", "1"),
            now=self.now(),
        )
        obj = result.obj
        obj["apiVersion"], obj["kind"] = t.res.api_version, t.res.kind
        obj.setdefault("metadata", {})["name"] = t.name
        if t.res.namespaced:
            obj["metadata"]["namespace"] = t.namespace
        if live is None:
            self._new_metadata(t, obj)
        self._strip_status(t, obj, live)
        self._finish(t, obj, live)
        ssa.write_entries(obj, result.entries)
        headers = _warning_headers(warnings)
        if (
            live is not None
            and _same_object(obj, live)
            and ssa.same_ownership(result.entries, ssa.read_entries(live))
        ):
            return Response(200, live, headers)  # a no-op apply writes nothing (09)
        out = self._commit(t, obj, live, dry_run=request.dry_run)
        return Response(201 if live is None else 200, out, headers, wrote=not request.dry_run)

    def _patch(self, t: _Target, request: Request) -> Response:
        assert t.name is not None
        if request.param("force"):
            raise ApiError(400, "force may not be set for non-apply patch types")
        live = self.store.get(t.res, t.namespace, t.name)
        if live is None:
            raise errors.not_found(t.res.plural, t.res.group, t.name)
        patch = self._parse_body(request)
        node = schema.for_kind(t.res.kind)
        kind = request.content_type
        if kind == JSON_PATCH:
            obj = _json_patch(clone(live), patch)
        elif kind in (MERGE, STRATEGIC, "application/json"):
            if not isinstance(patch, dict):
                raise ApiError(400, "a merge patch must be a JSON object")
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != live["metadata"]["resourceVersion"]:
                raise errors.stale(t.res.plural, t.res.group, t.name)
            obj = _merge_patch(clone(live), patch, node if kind == STRATEGIC else None)
        else:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted "
                f"media types include: {JSON_PATCH}, {MERGE}, {APPLY}, {STRATEGIC}",
            )
        return self._update(t, request, live, obj)

    def _replace(self, t: _Target, request: Request) -> Response:
        assert t.name is not None
        obj = self._parse_body(request)
        self._check_identity(t, obj, url_name=t.name)
        live = self.store.get(t.res, t.namespace, t.name)
        if live is None:
            raise errors.not_found(t.res.plural, t.res.group, t.name)
        wanted_rv = obj["metadata"].get("resourceVersion")
        if wanted_rv and wanted_rv != live["metadata"]["resourceVersion"]:
            raise errors.stale(t.res.plural, t.res.group, t.name)
        return self._update(t, request, live, obj)

    def _update(self, t: _Target, request: Request, live: _Obj, obj: _Obj) -> Response:
        """The common tail of PUT and non-apply PATCH."""
        self._check_identity(t, obj, url_name=t.name)
        obj["apiVersion"], obj["kind"] = t.res.api_version, t.res.kind
        warnings = self._fit_schema(t, obj, request, applying=False)
        meta, live_meta = obj["metadata"], live["metadata"]
        for key in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "resourceVersion",
        ):
            if key in live_meta:
                meta[key] = live_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("managedFields", None)
        self._strip_status(t, obj, live)
        self._finish(t, obj, live)
        self._record_update(t, request, live, obj)
        headers = _warning_headers(warnings)
        if _same_object(obj, live):
            return Response(200, live, headers)
        out = self._commit(t, obj, live, dry_run=request.dry_run)
        return Response(200, out, headers, wrote=not request.dry_run)

    def _delete(self, t: _Target, request: Request) -> Response:
        assert t.name is not None
        live = self.store.get(t.res, t.namespace, t.name)
        if live is None:
            raise errors.not_found(t.res.plural, t.res.group, t.name)
        options = self._parse_body(request) if request.body.strip() else {}
        preconditions = (options or {}).get("preconditions") or {}
        wanted_rv = preconditions.get("resourceVersion")
        if wanted_rv and wanted_rv != live["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                f"Operation cannot be fulfilled on {errors.qualified(t.res.plural, t.res.group)} "
                f'"{t.name}": the ResourceVersion in the precondition ({wanted_rv}) does not match '
                f"the ResourceVersion in record ({live['metadata']['resourceVersion']}). The "
                "object might have been modified",
                reason="Conflict",
                details=errors.details(t.name, t.res.group, t.res.plural),
            )
        propagation = request.param("propagationPolicy") or (options or {}).get("propagationPolicy")
        if t.res.kind == "Namespace":
            return self._delete_namespace(t, live, request.dry_run)
        if live["metadata"].get("finalizers"):
            obj = clone(live)
            obj["metadata"].setdefault("deletionTimestamp", self.now())
            obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if _same_object(obj, live):
                return Response(200, live)
            out = self._commit(t, obj, live, dry_run=request.dry_run)
            return Response(200, out, wrote=not request.dry_run)
        if not request.dry_run:
            self._remove(t.res, t.namespace, t.name, orphan=propagation == "Orphan")
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": errors.details(
                t.name, t.res.group, t.res.plural, uid=live["metadata"]["uid"]
            ),
        }
        return Response(200, status, wrote=not request.dry_run)

    def _delete_collection(self, t: _Target, request: Request) -> Response:
        by_labels = selectors.label_selector(request.param("labelSelector"))
        by_fields = selectors.field_selector(request.param("fieldSelector"))
        items = self.store.items(t.res, t.namespace if t.namespace else None)
        doomed = [o for o in items if by_labels(o["metadata"].get("labels") or {}) and by_fields(o)]
        if not request.dry_run:
            for obj in doomed:
                self._remove(t.res, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return Response(
            200,
            {
                "kind": f"{t.res.kind}List",
                "apiVersion": t.res.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": doomed,
            },
            wrote=bool(doomed) and not request.dry_run,
        )

    def _delete_namespace(self, t: _Target, live: _Obj, dry_run: bool) -> Response:
        """Namespace deletion: Terminating now (35, 36), contents gone now, the object later."""
        if live["metadata"].get("deletionTimestamp"):
            return Response(200, live)
        obj = clone(live)
        obj["metadata"]["deletionTimestamp"] = self.now()
        obj["status"] = {"phase": "Terminating"}
        if dry_run:
            return Response(200, obj)
        obj["metadata"]["resourceVersion"] = self.store.next_resource_version()
        self.store.put(t.res, obj)
        name = obj["metadata"]["name"]
        for res, item in list(self.store.in_namespace(name)):
            # Everything in it goes anyway: skip the per-object owner search.
            self._remove(res, name, item["metadata"]["name"], orphan=True)
        self._terminating[name] = time.monotonic()
        if self.namespace_delete_delay <= 0:
            # Gone for the next request, but this answer still shows Terminating.
            self._terminating[name] = float("-inf")
        return Response(200, obj, wrote=True)

    def _finalize_namespaces(self) -> None:
        now = time.monotonic()
        for name, since in list(self._terminating.items()):
            if now - since >= self.namespace_delete_delay:
                del self._terminating[name]
                self.store.remove(resources.by_kind("Namespace"), "", name)

    def _remove(self, res: Resource, namespace: str, name: str, *, orphan: bool = False) -> None:
        """Delete one object and, unless orphaning, everything it owns (garbage collection)."""
        obj = self.store.remove(res, namespace, name)
        if obj is None:
            return
        self.rollout.observe_delete(res, obj)
        if orphan:
            return
        uid = obj["metadata"].get("uid")
        # A namespaced owner's dependents live in its namespace; a cluster-wide one's anywhere.
        dependents = self.store.in_namespace(namespace) if res.namespaced else self.store.every()
        for dep_res, dep in list(dependents):
            owners = dep["metadata"].get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners):
                self._remove(dep_res, dep["metadata"].get("namespace", ""), dep["metadata"]["name"])

    # --- internal writes, used by the simulated controllers ---------------------------

    def create_internal(self, res: Resource, obj: _Obj, *, manager: str) -> _Obj:
        obj = clone(obj)
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        t = _Target(res, obj["metadata"].get("namespace", ""), None, None)
        self._new_metadata(t, obj)
        defaults.apply_defaults(obj, None, self.allocate_cluster_ip)
        entries = ssa.record_update(
            None,
            obj,
            schema.for_kind(res.kind),
            manager=manager,
            api_version=res.api_version,
            now=self.now(),
        )
        ssa.write_entries(obj, entries)
        return self._commit(t, obj, None, dry_run=False)

    def update_internal(
        self, res: Resource, old: _Obj, new: _Obj, *, manager: str, subresource: str = ""
    ) -> _Obj:
        """Write `new` over `old` as a controller would; nothing happens when they are equal."""
        if _same_object(new, old):
            return old
        entries = ssa.record_update(
            old,
            new,
            schema.for_kind(res.kind),
            manager=manager,
            api_version=res.api_version,
            now=self.now(),
            subresource=subresource,
        )
        ssa.write_entries(new, entries)
        t = _Target(res, new["metadata"].get("namespace", ""), new["metadata"]["name"], None)
        return self._commit(t, new, old, dry_run=False)

    def delete_internal(self, res: Resource, namespace: str, name: str) -> None:
        self._remove(res, namespace, name)


_ROOT_CA_NOTE = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)

# Top-level key order of the apiserver's JSON (kind, apiVersion, metadata, spec, ..., status).
_KEY_ORDER = {"kind": 0, "apiVersion": 1, "metadata": 2, "spec": 3, "status": 9}
_META_ORDER = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
]


def _ordered(obj: _Obj) -> _Obj:
    out = {k: obj[k] for k in sorted(obj, key=lambda k: _KEY_ORDER.get(k, 5))}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        rank = {k: i for i, k in enumerate(_META_ORDER)}
        out["metadata"] = {k: meta[k] for k in sorted(meta, key=lambda k: rank.get(k, 99))}
        for key in ("labels", "annotations"):
            if isinstance(meta.get(key), dict):
                out["metadata"][key] = dict(sorted(meta[key].items()))
    return out


def _spec_of(obj: _Obj) -> _Obj:
    """Everything a generation bump looks at: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same_object(a: _Obj, b: _Obj) -> bool:
    def strip(o: _Obj) -> _Obj:
        meta = {
            k: v
            for k, v in o.get("metadata", {}).items()
            if k not in ("managedFields", "resourceVersion")
        }
        return {**o, "metadata": meta}

    return strip(a) == strip(b)


def _watch_event(
    old: _Obj | None, new: _Obj | None, keep: Callable[[_Obj], bool]
) -> dict[str, Any] | None:
    """The event a watcher with this selection sees; objects moving out of it are DELETED."""
    was = old is not None and keep(old)
    now = new is not None and keep(new)
    if new is None:
        return {"type": "DELETED", "object": old} if was else None
    if now:
        return {"type": "MODIFIED" if was else "ADDED", "object": new}
    return {"type": "DELETED", "object": new} if was else None


def _warning_headers(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    return {
        "Warning": ", ".join(f'299 - "{w.replace(chr(34), chr(92) + chr(34))}"' for w in warnings)
    }


def _merge_patch(target: Any, patch: Any, node: schema.Node | None) -> Any:
    """RFC 7386 merge patch; with a schema (strategic merge), keyed lists merge by their key."""
    if not isinstance(patch, dict):
        return clone(patch)
    if not isinstance(target, dict):
        target = {}
    for name, value in patch.items():
        if name.startswith("$"):
            continue  # strategic-merge directives ($patch, $retainKeys...) are not modelled
        sub = schema.child(node, name) if node is not None else None
        if value is None:
            target.pop(name, None)
        elif (
            isinstance(value, list)
            and isinstance(sub, schema.ListOf)
            and sub.keys
            and isinstance(target.get(name), list)
        ):
            target[name] = _merge_keyed(target[name], value, sub)
        else:
            target[name] = _merge_patch(target.get(name), value, sub)
    return target


def _merge_keyed(current: list[Any], patch: list[Any], node: schema.ListOf) -> list[Any]:
    key = node.keys[0]  # the strategic-merge patchMergeKey is the first list-map key
    out = clone(current)
    for item in patch:
        if not isinstance(item, dict):
            continue
        match = next((o for o in out if isinstance(o, dict) and o.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            out = [o for o in out if o is not match]
        elif match is None:
            out.append(clone(item))
        else:
            _merge_patch(match, item, node.items)
    return out


def _json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 with add/remove/replace/test (what clients send in practice)."""
    if not isinstance(ops, list):
        raise ApiError(400, "a JSON patch must be a list of operations")
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op.get("path", "").split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise ApiError(
                    422,
                    f"the server rejected our request due to an error in our "
                    f"request: doc is missing path: {op.get('path')}",
                )
        last = parts[-1] if parts else ""
        kind = op.get("op")
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise ApiError(
                    422,
                    f"the server rejected our request due to an error in our "
                    f"request: testing value {op.get('path')} failed",
                )
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op.get("value"))
                else:
                    parent[index] = op.get("value")
            else:
                parent[last] = op.get("value")
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        else:
            raise ApiError(400, f"unsupported JSON patch operation: {kind}")
    return doc
