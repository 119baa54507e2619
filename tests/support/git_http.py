"""Git smart HTTP on loopback: ``git http-backend`` behind a small WSGI server with basic auth.

This is how a forge serves a state repository, so remote-mode tests go through a real
receive-pack, whose old-value check under lock is what makes a push a compare-and-swap.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(WSGIServer):
    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream: IO[bytes] = environ["wsgi.input"]
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(stream.readline().split(b";")[0].strip(), 16)
            if size == 0:
                stream.readline()
                return bytes(body)
            body += stream.read(size)
            stream.readline()
    return stream.read(int(environ.get("CONTENT_LENGTH") or 0))


def _framing(body: bytes) -> list[tuple[str, str]]:
    # An HTTP/1.0 answer without a length leaves libgit2 unsure where the body ends.
    return [("Content-Length", str(len(body)))]


class GitHTTPServer:
    """Serves every repository under ``root`` at ``http://127.0.0.1:PORT/<name>``."""

    def __init__(self, root: Path, username: str, password: str):
        self.root = root
        self._credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._server = make_server(
            "127.0.0.1",
            0,
            self._app,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GitHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != f"Basic {self._credentials}":
            body = b"authentication required\n"
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"'), *_framing(body)]
            )
            return iter([body])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "rise",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
        }
        body = _read_body(environ)
        env["CONTENT_LENGTH"] = str(len(body))
        out = subprocess.run(
            ["git", "-c", "http.receivepack=true", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            check=False,
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start_response(status, [*headers, *_framing(payload)])
        return iter([payload])
