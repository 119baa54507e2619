"""A loopback forge API that records every request and answers as the forge documents it.

One server speaks the three dialects rise uses, each under its own root:

- GitHub (``/``): ``GET|POST /repos/{o}/{r}/issues/{n}/comments`` (``per_page``, ``page``),
  ``PATCH /repos/{o}/{r}/issues/comments/{id}``, ``POST /repos/{o}/{r}/statuses/{sha}``;
  ``Authorization: Bearer <token>``.
- Gitea (``/api/v1``): the same paths, ``limit`` for the page size, ``Authorization: token``.
- GitLab (``/api/v4``): ``GET|POST /projects/{url-encoded path}/merge_requests/{iid}/notes``,
  ``PUT .../notes/{id}``, ``POST /projects/{id}/statuses/{sha}`` (states pending, running,
  success, failed, canceled); ``PRIVATE-TOKEN: <token>``.

Comments live in memory per pull request, so a client that posts twice makes two comments —
which is exactly what the tests must be able to see.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOTS = {"github": "", "gitea": "/api/v1", "gitlab": "/api/v4"}
_STATUS_STATES = {
    "github": {"pending", "success", "failure", "error"},
    "gitea": {"pending", "success", "failure", "error", "warning"},
    "gitlab": {"pending", "running", "success", "failed", "canceled"},
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ForgeDouble:
    kind: str
    repository: str
    token: str
    requests: list[Recorded] = field(default_factory=list)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}{ROOTS[self.kind]}"

    def __enter__(self) -> ForgeDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_comment(self, number: int, body: str, user: str = "someone") -> None:
        with self._lock:
            self.comments.setdefault(number, []).append(
                {"id": next(self._ids), "body": body, "user": {"login": user}}
            )

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- answering ---------------------------------------------------------------------------

    def answer(
        self, method: str, raw_path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        with self._lock:
            self.requests.append(Recorded(method, split.path, query, headers, body))
        if not self._authorised(headers):
            return 401, {"message": "Bad credentials"}
        path = split.path.removeprefix(ROOTS[self.kind])
        repo = self.repository if self.kind != "gitlab" else self.repository.replace("/", "%2F")
        base = f"/repos/{repo}" if self.kind != "gitlab" else f"/projects/{repo}"
        item = "issues" if self.kind != "gitlab" else "merge_requests"
        notes = "comments" if self.kind != "gitlab" else "notes"
        if match := re.fullmatch(rf"{re.escape(base)}/{item}/(\d+)/{notes}", path):
            number = int(match[1])
            if method == "GET":
                return 200, self._page(number, query)
            if method == "POST" and isinstance(body, dict) and "body" in body:
                self.add_comment(number, body["body"], user="rise-bot")
                return 201, self.comments[number][-1]
        if self.kind == "gitlab":
            edit = re.fullmatch(rf"{re.escape(base)}/merge_requests/(\d+)/notes/(\d+)", path)
            verb = "PUT"
        else:
            edit = re.fullmatch(rf"{re.escape(base)}/issues/comments/()(\d+)", path)
            verb = "PATCH"
        if edit and method == verb and isinstance(body, dict) and "body" in body:
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(edit[2]):
                        comment["body"] = body["body"]
                        return 200, comment
            return 404, {"message": "Not Found"}
        if (
            status := re.fullmatch(rf"{re.escape(base)}/statuses/([0-9a-f]{{40}})", path)
        ) and method == "POST":
            if not isinstance(body, dict) or body.get("state") not in _STATUS_STATES[self.kind]:
                return 422, {"message": "Validation Failed"}
            self.statuses.append({"sha": status[1], **body})
            return 201, {"id": next(self._ids), **body}
        return 404, {"message": "Not Found"}

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.kind == "gitlab":
            return headers.get("private-token") == self.token
        scheme = "Bearer" if self.kind == "github" else "token"
        return headers.get("authorization") == f"{scheme} {self.token}"

    def _page(self, number: int, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        size_key = "limit" if self.kind == "gitea" else "per_page"
        size = int(query.get(size_key, ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        items = self.comments.get(number, [])
        return items[(page - 1) * size : page * size]


def _handler(forge: ForgeDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = forge.answer(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _serve

    return Handler
