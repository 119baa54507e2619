"""The OpenAPI 3.1 document, built from the routes and the models in ``schemas/api.py``.

Each API route is an ``ApiRoute`` carrying an ``Operation``: its summary, request model,
response model and status. The same models validate requests and shape responses, so the
document cannot drift from what the handlers do.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.server.door import MAX_BODY_BYTES
from reconciler.server.errors import ApiError
from schemas import AppConfig
from schemas.api import MODEL_KEY, ErrorBody
from schemas.deployment import DEPLOYMENT_ID_PATTERN
from schemas.errors import did_you_mean
from schemas.names import ENV_KEY_JSON_SCHEMA, NAME_JSON_SCHEMA

_REF = "#/components/schemas/{model}"
NAME_SCHEMA = {k: v for k, v in NAME_JSON_SCHEMA.items() if k != "description"}
_ERROR_TEXT = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found (or not visible to you)",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "The body is not JSON",
    429: "Too many attempts",
    501: "Not available yet",
    503: "Shutting down or state repository unavailable",
}


@dataclass(frozen=True)
class Query:
    """A query parameter that is more than an optional string."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    """The response is a JSON array of ``response``."""
    status: int = 200
    public: bool = False
    """Needs no token."""
    query: Mapping[str, str | Query] = field(default_factory=dict)
    """Query parameters: a description (an optional string), or a ``Query``."""
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    tag: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    """The body cap ``BodyDoor`` enforces on this route."""


class ApiRoute(Route):
    def __init__(
        self, path: str, endpoint: Callable[..., Any], method: str, operation: Operation
    ) -> None:
        super().__init__(path, _known_query_only(endpoint, operation), methods=[method])
        self.method = method
        self.operation = operation
        self.max_body_bytes = operation.max_body_bytes


def _known_query_only(
    endpoint: Callable[[Request], Awaitable[Response]], operation: Operation
) -> Callable[[Request], Awaitable[Response]]:
    """Refuse query parameters the operation does not take: ``?limt=5`` is a typo to report,
    not a request to answer as if it were not there."""
    known = list(operation.query)

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        for name in request.query_params:
            if name not in known:
                raise ApiError(
                    400,
                    "invalid_query",
                    f"unknown query parameter {name[:40]!r}{did_you_mean(name, known)}",
                    f"this endpoint takes {', '.join(known)}" if known else "it takes none",
                )
        return await endpoint(request)

    return checked


def document(routes: Iterable[BaseRoute], version: str) -> dict[str, Any]:
    api_routes = [r for r in routes if isinstance(r, ApiRoute)]
    models = _models(api_routes)
    refs, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    _link_models(definitions)
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rise",
            "version": version,
            "description": "Deploy container apps to Kubernetes the GitOps way.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearer": []}],
    }


def _models(routes: list[ApiRoute]) -> list[type[BaseModel]]:
    # AppConfig is what DeploymentCreate's app_config refers to (``APP_CONFIG_REF``).
    seen: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody, "AppConfig": AppConfig}
    for route in routes:
        for model in (route.operation.body, route.operation.response):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


def _operation(route: ApiRoute, refs: Mapping[Any, Any]) -> dict[str, Any]:
    op = route.operation
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": _operation_id(route),
        "responses": {str(op.status): _success(op, refs)},
    }
    if op.tag:
        out["tags"] = [op.tag]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in route.param_convertors
    ]
    for name, spec in op.query.items():
        query = spec if isinstance(spec, Query) else Query(spec)
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": query.required,
                "description": query.description,
                "schema": dict(query.schema),
            }
        )
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        # An empty body is read as {}: required only when {} is not a valid body.
        required = bool({"required", "oneOf"} & set(op.body.model_json_schema()))
        out["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": _schema(op.body, refs)}},
        }
    error: dict[str, Any] = {"application/json": {"schema": _schema(ErrorBody, refs)}}
    if op.media_type.startswith("text/"):  # its own refusals are text; the API's are JSON
        error[op.media_type] = {"schema": {"type": "string"}}
    codes = set(op.errors) | ({400, 413, 415} if op.body else set())
    codes |= {400} if parameters else set()  # every parameter is checked
    codes |= set() if op.public else {401, 429}  # 429: HTTP Basic shares the login limits
    for code in sorted(codes):
        out["responses"][str(code)] = {
            "description": _ERROR_TEXT.get(code, "Error"),
            "content": error,
        }
    if op.public:
        out["security"] = []
    return out


def _link_models(node: Any) -> None:
    """Replace each ``{MODEL_KEY: name}`` schema by a reference to that model's schema."""
    if isinstance(node, dict):
        children = list(node.items())
    else:
        children = list(enumerate(node)) if isinstance(node, list) else []
    for key, value in children:
        if isinstance(value, dict) and MODEL_KEY in value:
            node[key] = {"$ref": _REF.format(model=value[MODEL_KEY])}
        else:
            _link_models(value)


def _path_schema(param: str) -> dict[str, Any]:
    """The rule each path parameter is checked by (``path_name`` and friends)."""
    names = dict(NAME_SCHEMA)
    schemas: dict[str, dict[str, Any]] = {
        "project": names,
        "team": names,
        "account": names,
        "user": {"anyOf": [{"const": "me"}, names]},
        "deployment": {"type": "string", "pattern": DEPLOYMENT_ID_PATTERN},
        "review": {"type": "string", "pattern": DEPLOYMENT_ID_PATTERN},
        "key": ENV_KEY_JSON_SCHEMA,
    }
    return schemas.get(param, {"type": "string"})


def _operation_id(route: ApiRoute) -> str:
    return re.sub(r"[^a-z0-9]+", "_", f"{route.method} {route.path}".lower()).strip("_")


def _success(op: Operation, refs: Mapping[Any, Any]) -> dict[str, Any]:
    if op.response is None:
        return {"description": "Success"}
    schema = _schema(op.response, refs)
    if op.many:
        schema = {"type": "array", "items": schema}
    return {"description": "Success", "content": {op.media_type: {"schema": schema}}}


def _schema(model: type[BaseModel], refs: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(refs[(model, "validation")])
