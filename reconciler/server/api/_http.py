"""What every API handler does: bounded JSON bodies, typed answers, names from the path."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.door import MAX_BODY_BYTES, is_json_type, loads, too_large
from reconciler.server.errors import ApiError, invalid
from reconciler.state import Snapshot
from schemas import SchemaError, parse_model
from schemas.names import name_problem

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_DOCS_HINT = "the request bodies are described at /api/v1/openapi.json"


async def read_body(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``: 413 past the size cap (``BodyDoor``), 415 unless it is
    JSON, 400 naming every problem."""
    raw = await read_capped(request, MAX_BODY_BYTES)
    if not raw.strip():
        data: Any = {}
    elif not is_json_type(request.headers.get("content-type")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be JSON, not {request.headers.get('content-type') or 'untyped'}",
            "send it with 'Content-Type: application/json'",
        )
    else:
        data = loads(raw)
    try:
        return parse_model(data, model, "body")
    except SchemaError as exc:
        raise invalid([p.message for p in exc.problems], _DOCS_HINT) from None


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything longer than ``limit`` before reading all of it."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def respond(body: BaseModel | Sequence[BaseModel], status: int = 200) -> Response:
    """Serialise with pydantic's own JSON encoder (a 1,000-row list in about a millisecond)."""
    content: str | bytes
    if isinstance(body, BaseModel):
        content = body.model_dump_json(by_alias=True)
    else:
        content = _list_adapter(type(body[0]) if body else BaseModel).dump_json(
            list(body), by_alias=True
        )
    return Response(content, status_code=status, media_type="application/json")


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def path_name(request: Request, param: str, what: str) -> str:
    """A name from the URL, checked before it gets anywhere near a file path."""
    value = str(request.path_params[param])
    problem = name_problem(value, what)
    if problem:
        raise ApiError(400, "invalid_name", problem, f"{what}s are RFC 1123 labels, e.g. 'my-app'")
    if what == "project name":
        request.state.project = value
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in [low, high]; 400 for anything else (``²`` included)."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ApiError(
            400,
            "invalid_query",
            f"{name} must be a whole number from {low} to {high}, not {text[:20]!r}",
            f"e.g. ?{name}={min(high, max(low, default))}",
        )
    return int(text)


async def caller(request: Request, ctx: ServerContext) -> Principal:
    return await ctx.authenticator.identify(request)


async def snapshot(ctx: ServerContext) -> Snapshot:
    return await run_in_threadpool(ctx.store.snapshot)


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run repo or hashing work off the event loop."""
    return await run_in_threadpool(fn, *args)
