"""`Status` bodies, shaped like kube-apiserver's (captures 12, 26, 28, 29, 30, 31, 34)."""

from __future__ import annotations

from typing import Any

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A failed request: raised anywhere below the router, rendered as a `Status` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = "",
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # "" means "the usual reason for this code"; None means "no reason field at all",
        # which is what the typed-patch 500s (29, 31) look like.
        self.reason = _REASONS.get(code, "") if reason == "" else reason
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    """`details` as the apiserver fills it: empty group (core) is left out."""
    out: dict[str, Any] = {"name": name}
    if group:
        out["group"] = group
    out["kind"] = kind
    out.update(extra)
    return out


def qualified(plural: str, group: str) -> str:
    """`deployments.apps`, or just `services` for the core group."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified(plural, group)} "{name}" not found',
        details=details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=details(name, group, plural),
    )


def stale(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details=details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per `(field, message)`; the message format follows capture 30."""
    what = f"{kind}.{group}" if group else kind
    texts = [f"{field}: {message}" for field, message in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        f'{what} "{name}" is invalid: {summary}',
        reason="Invalid",
        details=details(
            name,
            group,
            kind,
            causes=[
                {"reason": _cause_reason(message), "message": message, "field": field}
                for field, message in causes
            ],
        ),
    )


def _cause_reason(message: str) -> str:
    if message.startswith("Required value"):
        return "FieldValueRequired"
    if message.startswith("Unsupported value"):
        return "FieldValueNotSupported"
    return "FieldValueInvalid"


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def typed_patch_error(namespace: str, name: str, api_version: str, kind: str, why: str) -> ApiError:
    """The 500 an apply gets when the patch does not fit the schema (captures 29, 31)."""
    group, _, version = api_version.rpartition("/")
    return ApiError(
        500,
        f"failed to create typed patch object ({namespace}/{name}; {group}/{version}, "
        f"Kind={kind}): {why}",
        reason=None,
    )


def internal(message: str) -> ApiError:
    return ApiError(
        500,
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def unknown_resource() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})
