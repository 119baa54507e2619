"""What every request passes before any handler work: a body cap and a sane-JSON check.

``BodyDoor`` is the ASGI middleware just inside ``RequestLog``. It refuses a body larger than
the route allows (413) — from ``Content-Length`` before reading a byte, else while the body
streams in — so no endpoint (the registry's, reviews', future ones) can be made to buffer
200 MB before deciding anything. A JSON body is parsed once here by ``loads``, which refuses
what parses but means something other than it says: a repeated key (``"secret": true,
"secret": false``), nesting deeper than ``MAX_DEPTH``, integers or floats of absurd length,
``NaN``. Handlers then parse the same bytes knowing they are sane.

A route takes bodies larger than ``MAX_BODY_BYTES`` by carrying a ``max_body_bytes``
attribute (``ApiRoute`` takes it from its ``Operation``); such bodies are streamed through,
never buffered here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.server.errors import ApiError, error_response

MAX_BODY_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40
_JSON_HINT = "send one JSON object as described at /api/v1/openapi.json"


def loads(raw: bytes) -> Any:
    """``raw`` as JSON, or a 400 saying precisely what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"the body is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise _bad(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _bad(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise _bad(f"the body is nested deeper than {MAX_DEPTH} levels")
    return data


def is_json_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class BodyDoor:
    """ASGI middleware: per-route body cap, and ``loads`` for every JSON body."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                raise too_large(limit)
            has_body = declared or _header(scope, b"transfer-encoding") is not None
            if has_body and limit <= MAX_BODY_BYTES:
                receive = await _checked_body(scope, receive, limit)
        except ApiError as exc:
            await error_response(Request(scope), exc)(scope, receive, send)
            return
        await self.app(scope, _capped(receive, limit), send)

    def _limit(self, scope: Scope) -> int:
        for route in self._routes():
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return int(getattr(route, "max_body_bytes", MAX_BODY_BYTES))
        return MAX_BODY_BYTES


async def _checked_body(scope: Scope, receive: Receive, limit: int) -> Receive:
    """Read the whole (capped) body, check it if it is JSON, and replay it to the app."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return _replay([message], receive)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise too_large(limit)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if body.strip() and (is_json_type(_header(scope, b"content-type")) or _looks_json(body)):
        loads(body)
    return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the connection's own (a disconnect, say)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive


def _capped(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return receive_capped


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ApiError(
            400, "invalid_header", f"Content-Length {value!r} is not a number", _JSON_HINT
        )
    return int(value)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _looks_json(body: bytes) -> bool:
    return body.lstrip()[:1] in (b"{", b"[")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _bad(
                f"key {key!r} appears twice in one object; a repeated key is ambiguous, so "
                "give each key once"
            )
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise _bad(f"a number of {len(text)} digits is too long (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _float(text: str) -> float | int:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARS or not math.isfinite(value):
        raise _bad(f"the number {text[:20]!r}… is too long or out of range")
    # JSON has one number type: 20.0 is the integer 20 (as JSON Schema's "integer" says).
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _constant(text: str) -> float:
    raise _bad(f"{text} is not a JSON value")


def _depth(data: Any) -> int:
    """How deeply lists and objects nest (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_json", message, _JSON_HINT)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "body_too_large", f"the body is larger than {limit} bytes", "send a smaller body"
    )
