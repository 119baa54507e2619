"""HTTP plumbing and the public `LoopbackKubeAPI`: a loopback stand-in for kube-apiserver.

`http.server.ThreadingHTTPServer` with HTTP/1.1 keep-alive (the official client pools
connections). The handler only parses, applies injected faults, logs, and writes bytes; the
API semantics live in `apiserver.py`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

from . import errors, resources
from .apiserver import ApiServer, Request, Response, utc_now
from .faults import Fault, FaultPlan
from .requestlog import RequestLog, RequestRecord
from .rollout import PodFailure


class LoopbackKubeAPI:
    """A kube-apiserver double on 127.0.0.1, driven through any Kubernetes client.

    `rollout_ticks`: ticks a new pod needs before it is ready (0: ready as soon as it exists).
    `auto_tick`: every resource GET/LIST counts as one tick (else only `tick()` advances).
    `namespace_delete_delay`: seconds a deleted namespace stays Terminating before it is gone
    (0: gone from the next request on; its contents go at once either way).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rollout_ticks: int = 1,
        auto_tick: bool = True,
        namespace_delete_delay: float = 0.0,
    ) -> None:
        self._host = host
        self._port = port
        self._defaults = (rollout_ticks, auto_tick, namespace_delete_delay)
        self._clock_offset = timedelta()
        self.api = ApiServer(
            clock=self._now,
            rollout_ticks=rollout_ticks,
            auto_tick=auto_tick,
            namespace_delete_delay=namespace_delete_delay,
        )
        self.log = RequestLog()
        self.faults = FaultPlan()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cancel = threading.Event()  # set by reset(): pending delayed requests are dropped

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> LoopbackKubeAPI:
        handler = type("_BoundHandler", (_Handler,), {"owner": self})
        self._httpd = _Server((self._host, self._port), handler)
        self._port = self._httpd.server_address[1]
        self.api.server_address = f"{self._host}:{self._port}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"kubeapi-{self._port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in a delay fault
        self._cancel.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackKubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig `kubernetes.config.load_kube_config(config_file=...)` accepts."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "loopback", "cluster": {"server": self.url}}],
            "users": [{"name": "loopback", "user": {"token": "loopback-token"}}],
            "contexts": [
                {
                    "name": "loopback",
                    "context": {"cluster": "loopback", "user": "loopback", "namespace": namespace},
                }
            ],
            "current-context": "loopback",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def api_client(self) -> Any:
        """A `kubernetes.client.ApiClient` pointed at this server."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"BearerToken": "Bearer loopback-token"}  # as kubeconfig loads it
        return client.ApiClient(configuration)

    def reset(self) -> None:
        """Back to a fresh cluster: no objects, faults, failures or log; default settings.
        Requests still sleeping in a delay fault are dropped unanswered, not applied later."""
        self._cancel.set()
        self._cancel = threading.Event()
        self.faults.clear()
        self.log.clear()
        rollout_ticks, auto_tick, delay = self._defaults
        with self.api.lock:
            self.api.rollout.ticks_to_ready = rollout_ticks
            self.api.auto_tick = auto_tick
            self.api.namespace_delete_delay = delay
            self._clock_offset = timedelta()
            self.api.reset()

    # --- cluster state -------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> None:
        """Move the server's clock (timestamps, managedFields times) forward."""
        self._clock_offset += timedelta(seconds=seconds)

    def _now(self) -> datetime:
        return utc_now() + self._clock_offset

    @property
    def resource_version(self) -> int:
        return self.api.store.resource_version

    def get_object(self, resource: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        """A copy of a stored object, e.g. `get_object("deployments", "web", "demo")`, or None."""
        res = resources.by_name(resource)
        with self.api.lock:
            obj = self.api.store.get(res, namespace, name)
            return json.loads(json.dumps(obj)) if obj is not None else None

    def list_objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        res = resources.by_name(resource)
        with self.api.lock:
            return json.loads(json.dumps(self.api.store.items(res, namespace)))

    def seed(self, obj: dict[str, Any], manager: str = "seed") -> dict[str, Any]:
        """Store an object directly (defaults applied, not logged), e.g. pre-existing state."""
        res = resources.by_kind(obj["kind"])
        with self.api.lock:
            return json.loads(json.dumps(self.api.create_internal(res, obj, manager=manager)))

    # --- controllers ---------------------------------------------------------------------

    def tick(self, times: int = 1) -> None:
        """Advance the simulated controller-manager/kubelet by `times` steps."""
        for _ in range(times):
            self.api.tick()

    @property
    def rollout_ticks(self) -> int:
        return self.api.rollout.ticks_to_ready

    @rollout_ticks.setter
    def rollout_ticks(self, value: int) -> None:
        self.api.rollout.ticks_to_ready = value

    @property
    def auto_tick(self) -> bool:
        return self.api.auto_tick

    @auto_tick.setter
    def auto_tick(self, value: bool) -> None:
        self.api.auto_tick = value

    @property
    def namespace_delete_delay(self) -> float:
        return self.api.namespace_delete_delay

    @namespace_delete_delay.setter
    def namespace_delete_delay(self, value: float) -> None:
        self.api.namespace_delete_delay = value

    def fail_pods(
        self,
        namespace: str,
        deployment_name: str | None = None,
        reason: str = "ImagePullBackOff",
        message: str | None = None,
    ) -> None:
        """Make a Deployment's (or, with no name, every Deployment's in `namespace`) current
        pods fail: containers wait with `reason`, the Deployment never becomes available.
        Holds for Deployments created later too, until `heal_pods`."""
        with self.api.lock:
            self.api.rollout.fail_pods(namespace, deployment_name, PodFailure(reason, message))

    def unpullable_image(
        self, image: str, reason: str = "ImagePullBackOff", message: str | None = None
    ) -> None:
        """Make every pod that runs `image` (in any Deployment, now or later) fail to pull
        it, like a kubelet asked for an image no registry has."""
        with self.api.lock:
            self.api.rollout.unpullable(image, PodFailure(reason, message))

    def heal_pods(self, namespace: str, deployment_name: str | None = None) -> None:
        with self.api.lock:
            self.api.rollout.heal_pods(namespace, deployment_name)

    def expire_progress_deadline(self, namespace: str, deployment_name: str) -> None:
        """Progressing=False/ProgressDeadlineExceeded on an unfinished rollout (next tick)."""
        with self.api.lock:
            self.api.rollout.expire_progress_deadline(namespace, deployment_name)

    # --- faults and the request log -----------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """Arm `fault` for its next `times` matching requests; returns it (see `.hits`)."""
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(
        self, method: str | None = None, path_re: str | None = None
    ) -> list[RequestRecord]:
        return self.log.select(method, path_re)

    def writes(self, path_re: str | None = None, *, effective: bool = False) -> list[RequestRecord]:
        """Mutating, non-dry-run requests; `effective=True` keeps only those that changed state
        (a no-op apply is a write request but not an effective write)."""
        return [
            r for r in self.log.select(path_re=path_re) if r.is_write and (r.wrote or not effective)
        ]

    def clear_log(self) -> None:
        self.log.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients closing pooled keep-alive connections is normal, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackKubeAPI
    protocol_version = "HTTP/1.1"
    server_version = "loopback-kube-apiserver"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces the stderr access log

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        owner = self.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        fault = owner.faults.take(request.method, request.path)
        if fault is not None and fault.kind == "drop":
            self._drop(request, fault)
            return
        if fault is not None and fault.kind == "delay" and owner._cancel.wait(fault.seconds):
            self._drop(request, fault)
            return
        if fault is not None and fault.kind in ("error", "throttle"):
            error = (
                errors.too_many_requests(fault.retry_after)
                if fault.kind == "throttle"
                else _injected_error(fault)
            )
            response = Response(error.code, error.status(), dict(error.headers))
        else:
            response = owner.api.handle(request)
        self._record(request, response, fault)
        self._send(response)

    def _drop(self, request: Request, fault: Fault) -> None:
        """Close the connection without an answer."""
        self._record(request, None, fault)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _record(self, request: Request, response: Response | None, fault: Fault | None) -> None:
        self.owner.log.add(
            RequestRecord(
                method=request.method,
                path=request.path,
                query=request.query,
                content_type=request.headers.get("content-type"),
                status=response.status if response else None,
                timestamp=time.time(),
                body=request.body,
                fault=fault.kind if fault else None,
                wrote=response.wrote if response else False,
                user=_user(request.headers),
            )
        )

    def _send(self, response: Response) -> None:
        if response.stream is not None:
            self._stream(response)
            return
        if isinstance(response.body, bytes):
            payload = response.body
            content_type = response.headers.pop("Content-Type", "application/octet-stream")
        else:
            payload = orjson.dumps(response.body)
            content_type = "application/json"
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Audit-Id", str(uuid.uuid4()))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. after a delay fault)

    def _stream(self, response: Response) -> None:
        """A watch, as chunked JSON lines; ends at its timeout or when the server stops."""
        assert response.stream is not None
        self.close_connection = True
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            for event in response.stream:
                if self.owner._stopping.is_set():
                    break
                if event is None:
                    continue
                line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


def _user(headers: Mapping[str, str]) -> str | None:
    """Who sent a request: the user it impersonates, else its bearer token."""
    token = headers.get("authorization", "").removeprefix("Bearer ").removeprefix("bearer ")
    return headers.get("impersonate-user") or token or None


def _injected_error(fault: Fault) -> errors.ApiError:
    if fault.status == 500:
        return errors.internal(fault.message)
    return errors.ApiError(fault.status, fault.message)
