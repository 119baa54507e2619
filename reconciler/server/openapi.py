"""The OpenAPI 3.1 document, built from the routes and the models in ``schemas/api.py``.

Each API route is an ``ApiRoute`` carrying an ``Operation``: its summary, request model,
response model and status. The same models validate requests and shape responses, so the
document cannot drift from what the handlers do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from reconciler.server.door import MAX_BODY_BYTES
from schemas import AppConfig
from schemas.api import MODEL_KEY, ErrorBody
from schemas.deployment import DEPLOYMENT_ID_PATTERN
from schemas.names import ENV_KEY_JSON_SCHEMA, NAME_JSON_SCHEMA

_REF = "#/components/schemas/{model}"
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
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    """The response is a JSON array of ``response``."""
    status: int = 200
    public: bool = False
    """Needs no token."""
    query: Mapping[str, str | tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """Query parameters: a description, or (description, JSON schema) when not any string."""
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    tag: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    """The body cap ``BodyDoor`` enforces on this route."""


class ApiRoute(Route):
    def __init__(
        self, path: str, endpoint: Callable[..., Any], method: str, operation: Operation
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method
        self.operation = operation
        self.max_body_bytes = operation.max_body_bytes


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
        text, schema = spec if isinstance(spec, tuple) else (spec, {"type": "string"})
        parameters.append(
            {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
        )
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(op.body, refs)}},
        }
    error = {"application/json": {"schema": _schema(ErrorBody, refs)}}
    codes = set(op.errors) | ({400, 413, 415} if op.body else set())
    codes |= set() if op.public else {401}
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
    names = {**NAME_JSON_SCHEMA}
    names.pop("description", None)
    schemas: dict[str, dict[str, Any]] = {
        "project": names,
        "team": names,
        "user": {"anyOf": [{"const": "me"}, names]},
        "deployment": {"type": "string", "pattern": DEPLOYMENT_ID_PATTERN},
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
