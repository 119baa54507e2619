"""HTTP to one Kubernetes API server, lean: keep-alive ``http.client`` connections set up as
the kubeconfig says.

Requests went through the official client's ``ApiClient.call_api`` at first. Profiled on 2
cores shared with the API server, that path cost about 1 ms of client CPU per request (its
kubeconfig refresh hook rewrites the host, which re-reads the proxy environment, on every
request), its keep-alive socket options drop ``TCP_NODELAY``, and urllib3 sends headers and
body in two writes, each a chance for the busy API server to take the core. Creating
projects, rise reached 0.15-0.6x the rate of plain applies over ``http.client``. The official
client still reads the kubeconfig (TLS, client certificates, tokens and their refresh hook,
a proxy); this sends the requests, each in one write, over pooled connections.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

# The kubeconfig loader's refresh hook (expiring tokens) rewrites the configuration, which
# costs a quarter of a millisecond: it is asked this often, not on every request.
AUTH_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    data: bytes


class Transport:
    """Thread-safe: each request takes an idle connection (or opens one) and returns it."""

    def __init__(self, configuration: Any):
        self.configuration = configuration
        self.host = str(configuration.host).rstrip("/")  # its getter is costly: read it once
        url = urlsplit(self.host)
        self._https = url.scheme == "https"
        self._address = (url.hostname or "localhost", url.port or (443 if self._https else 80))
        self._base = url.path.rstrip("/")
        self._proxy = _proxy(configuration, self.host)
        self._tls = _tls_context(configuration) if self._https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._auth: tuple[float, str | None] | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
    ) -> Answer:
        """One request, no redirects and no retries (the reconciler decides about those);
        ``http.client`` and OS errors (timeouts included) propagate."""
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        conn = self._take(timeout)
        try:
            conn.request(method, self._base + path, body=body or b"", headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return Answer(response.status, response.headers, data)

    def _take(self, timeout: float) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(timeout)
            if _usable(conn):
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                return conn
            conn.close()  # the server closed it while it was idle

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self._address
        if self._proxy is not None:
            where = (self._proxy.hostname or "localhost", self._proxy.port or 80)
        else:
            where = (host, port)
        conn: http.client.HTTPConnection
        if self._https:
            conn = _HTTPSConnection(
                *where, timeout=timeout, context=self._tls, sni=self.configuration.tls_server_name
            )
        else:
            conn = http.client.HTTPConnection(*where, timeout=timeout)
        if self._proxy is not None:
            conn.set_tunnel(host, port, headers=self.configuration.proxy_headers)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return conn

    def _authorization(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            if self._auth is None or now - self._auth[0] > AUTH_REFRESH_SECONDS:
                config = self.configuration
                value = config.get_api_key_with_prefix("BearerToken")
                if not value and config.username:
                    value = config.get_basic_auth_token()
                self._auth = (now, value)
            return self._auth[1]


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that may present another server name (``tls-server-name``)."""

    def __init__(self, *args: Any, sni: str | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sni = sni

    def connect(self) -> None:
        if not self._sni:
            super().connect()
            return
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._sni)  # type: ignore[attr-defined]


def _proxy(configuration: Any, host: str) -> SplitResult | None:
    """The kubeconfig's proxy (an HTTP CONNECT proxy), unless ``no_proxy`` exempts ``host``."""
    from kubernetes.client.rest import should_bypass_proxies

    proxy = configuration.proxy
    if not proxy or should_bypass_proxies(host, configuration.no_proxy or ""):
        return None
    return urlsplit(proxy)


def _tls_context(configuration: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if getattr(configuration, "ca_cert_data", None):
        context.load_verify_locations(cadata=configuration.ca_cert_data)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    return context


def _usable(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the server has not closed (nothing to read on it)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
