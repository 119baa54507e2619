"""Baselines for the reconciler benchmark: what the API server does without rise in the way.

- ``raw_apply``: plain server-side applies of pre-rendered objects from ``connections``
  keep-alive HTTP(S) connections (``http.client``, one per thread), projects taken off one
  queue, each project's objects in order, then one read (on the double, that runs the
  simulated controllers for what was applied, as rise's reads do). Nothing is compared,
  rendered or recorded.
- ``bare_lists``: the paginated LISTs a full resync makes (same kinds, selector and page
  size, kinds side by side as rise lists them), each page only JSON-decoded.

Both read ``server``, ``certificate-authority-data`` and a bearer ``token`` from the
kubeconfig (the lab's and the double's have them).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml

from reconciler.runtimes.kubeapi import kind


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    token: str | None
    context: ssl.SSLContext | None

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Endpoint:
        doc = yaml.safe_load(path.read_text())
        current = doc.get("current-context")
        context = next(c["context"] for c in doc["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == context["user"])
        url = urlsplit(cluster["server"])
        tls = None
        if url.scheme == "https":
            tls = ssl.create_default_context()
            ca = cluster.get("certificate-authority-data")
            if ca:
                with tempfile.NamedTemporaryFile("wb", suffix=".crt") as file:
                    file.write(base64.b64decode(ca))
                    file.flush()
                    tls.load_verify_locations(file.name)
        port = url.port or (443 if url.scheme == "https" else 80)
        return cls(url.scheme, url.hostname or "127.0.0.1", port, user.get("token"), tls)

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, context=self.context)
        return http.client.HTTPConnection(self.host, self.port)

    def headers(self, content_type: str | None = None) -> dict[str, str]:
        out = {"Accept": "application/json"}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        if content_type:
            out["Content-Type"] = content_type
        return out


def raw_apply(
    endpoint: Endpoint, projects: Sequence[Sequence[tuple[str, bytes]]], connections: int
) -> float:
    """Seconds to server-side apply every project's (path, JSON body) pairs, in order."""
    queue = iter(projects)
    taking = threading.Lock()
    headers = endpoint.headers("application/apply-patch+yaml")

    def work() -> None:
        conn = endpoint.connect()
        while True:
            with taking:
                objects = next(queue, None)
            if objects is None:
                conn.close()
                return
            for path, body in objects:
                conn.request("PATCH", f"{path}?fieldManager=raw&force=true", body, headers)
                response = conn.getresponse()
                data = response.read()
                if response.status >= 300:
                    raise RuntimeError(f"raw apply of {path}: {response.status} {data[:200]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(work) for _ in range(connections)]:
            future.result()
    # The double simulates the controllers inside its requests (a read ticks every rollout
    # started since the last one), where rise's reads after each apply pay for it: one read
    # here gives the baseline the same simulated work. On a cluster it is one more LIST.
    conn = endpoint.connect()
    conn.request("GET", "/apis/apps/v1/deployments?limit=1", headers=endpoint.headers())
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - started


def bare_lists(
    endpoint: Endpoint, kinds: Sequence[str], selector: str, page_size: int, threads: int = 4
) -> tuple[float, int]:
    """Seconds and requests to LIST ``kinds`` across namespaces with ``selector``."""
    headers = endpoint.headers()
    counts: list[int] = []

    def list_kind(name: str) -> None:
        conn = endpoint.connect()
        token = ""
        pages = 0
        while True:
            query = f"labelSelector={quote(selector)}&limit={page_size}"
            if token:
                query += f"&continue={quote(token)}"
            conn.request("GET", f"{kind(name).collection()}?{query}", headers=headers)
            response = conn.getresponse()
            body = json.loads(response.read())
            pages += 1
            token = (body.get("metadata") or {}).get("continue") or ""
            if not token:
                break
        conn.close()
        counts.append(pages)

    started = time.perf_counter()
    with ThreadPoolExecutor(min(threads, len(kinds))) as pool:
        list(pool.map(list_kind, kinds))
    return time.perf_counter() - started, sum(counts)
