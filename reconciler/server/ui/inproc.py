"""The API called in-process with the session's token: what a dashboard button does is the
API's own answer (authorization, validation, errors), never a second implementation."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request

from reconciler.server.errors import ApiError
from reconciler.server.ui import session


async def call(request: Request, method: str, path: str, body: Any = None) -> Any:
    """``method path`` on this same app as the session's user: the JSON answer, or its
    error as ApiError (same status, message and hint)."""
    token = session.session_token(request) or ""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        answer = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    if answer.status_code >= 400:
        error = answer.json() if is_json else {}
        raise ApiError(
            answer.status_code,
            str(error.get("error", "failed")),
            str(error.get("message", answer.text[:200])),
            error.get("hint"),
        )
    return answer.json() if is_json else None
