"""Every error the server answers is JSON ``{error, message, hint}`` with the right status.

Handlers raise ``ApiError``; the exception handlers here turn it, Starlette's own 404/405 and
anything unexpected into that shape. A 500 never shows internals: it names the request id
the log line carries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from reconciler.state import CommitConflict, StateError
from schemas import SchemaError

log = logging.getLogger("rise.server")


class ApiError(Exception):
    """An answer other than success: status, code, message and what to do next."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        hint: str | None = None,
        *,
        problems: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.hint = hint
        self.problems = list(problems) if problems is not None else None
        self.headers = dict(headers or {})


def not_found(kind: str, name: str, hint: str) -> ApiError:
    """The one answer for "missing" and "not yours to see": the body must not tell which."""
    return ApiError(404, "not_found", f"{kind} {name!r} not found", hint)


def invalid(problems: Sequence[str], hint: str, error: str = "invalid_body") -> ApiError:
    first = problems[0] if problems else "invalid request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ApiError(400, error, first + more, hint, problems=problems)


def from_schema_error(exc: SchemaError, hint: str) -> ApiError:
    return invalid([str(p) for p in exc.problems], hint)


def error_response(request: Request, exc: ApiError) -> JSONResponse:
    body: dict[str, object] = {"error": exc.error, "message": exc.message, "hint": exc.hint}
    if exc.problems is not None:
        body["problems"] = exc.problems
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(
            404,
            "not_found",
            f"no such endpoint: {request.method} {request.url.path}",
            "the API is described at /api/v1/openapi.json",
        )
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        error = ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
            "the API is described at /api/v1/openapi.json",
            headers={**(exc.headers or {}), "Allow": ", ".join(allowed)},
        )
    else:
        error = ApiError(exc.status_code, "http_error", str(exc.detail), None, headers=exc.headers)
    return error_response(request, error)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of the path template this path resolves to first (each method is its own
    route here, so the route that refused knows only its own)."""
    routes = [r for r in request.app.routes if isinstance(r, Route) and r.methods]
    first = next((r for r in routes if r.path_regex.match(request.url.path)), None)
    if first is None:
        return []
    return sorted({m for r in routes if r.path == first.path for m in r.methods or ()})


async def _conflict(request: Request, exc: Exception) -> Response:
    return error_response(
        request,
        ApiError(
            409,
            "conflict",
            str(exc),
            "many writers changed the state repository at once; retry the request",
        ),
    )


async def _state_error(request: Request, exc: Exception) -> Response:
    log.error("state repository error: %s", exc)
    return error_response(
        request,
        ApiError(
            503,
            "state_unavailable",
            f"the state repository could not be read or written: {exc}",
            "nothing was written; an operator must fix the cause above (GET /readyz shows it)",
            headers={"Retry-After": "30"},
        ),
    )


async def internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    """The 500 answer (``RequestLog`` logs the error): no internals, only the request id."""
    error = ApiError(
        500,
        "internal_error",
        "the server failed to handle this request",
        "retry; if it persists, give the request id to an operator",
    )
    await error_response(Request(scope), error)(scope, receive, send)


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    CommitConflict: _conflict,
    StateError: _state_error,
}
