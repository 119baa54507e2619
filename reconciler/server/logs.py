"""JSON logs, one object per line, each request's lines carrying its request id.

``RequestLog`` is the outermost middleware of the app: it gives every request an id (the
caller's ``X-Request-ID`` when it is sane), echoes it in the response, writes one access line
with the user and project the handler recorded, and feeds the request metrics. Bodies and
query strings are never logged, so secret values cannot reach a log line.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.server.metrics import Metrics

access_log = logging.getLogger("rise.access")
log = logging.getLogger("rise.server")
request_id_var: ContextVar[str | None] = ContextVar("rise_request_id", default=None)

_SANE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
# Attributes every record has, and uvicorn's ANSI-coloured copy of the message.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send every logger (uvicorn's too) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestLog:
    """ASGI middleware: request id, access log line, request metrics, and the answer to any
    unexpected error (``internal_error``: a JSON 500 naming the request id)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        route_of: Callable[[Scope], str],
        internal_error: ASGIApp,
    ) -> None:
        self.app = app
        self._internal_error = internal_error
        self._metrics = metrics
        self._route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Handled here, inside the request's context, so the log line and the answer
            # carry the same request id (Starlette's own handler runs outside this one).
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if status_sent:
                raise
            await self._internal_error(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self._route_of(scope)
            self._metrics.count_request(scope["method"], route, status, seconds)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra=_access_fields(scope, state, status, seconds),
            )
            request_id_var.reset(token)


def _access_fields(
    scope: Scope, state: Mapping[str, Any], status: int, seconds: float
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    for key in ("user", "project"):
        if state.get(key):
            fields[key] = state[key]
    return fields


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else None
    return None
