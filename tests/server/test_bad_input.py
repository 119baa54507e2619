"""Bad input never gives a 500 (issue 14, items 8-11): each test is the hostile or careless
request, sent over HTTP to a started server."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.routing import Route

from reconciler.server.app import create_app
from reconciler.server.config import load_config
from reconciler.server.context import build_context
from reconciler.server.logs import JsonFormatter
from reconciler.state import StateRepo
from tests.server.conftest import ADMIN_PASSWORD, InProcessServer, RunningServer, image

_BIG = 2 << 20


def _raw(server: RunningServer, request: bytes, timeout: float = 5) -> tuple[int, float]:
    """Send ``request`` on a socket; the status line's code and how long the answer took."""
    host = urlsplit(server.url)
    started = time.monotonic()
    with socket.create_connection((host.hostname, host.port), timeout=timeout) as sock:
        sock.sendall(request)
        first = sock.recv(64).decode("latin-1")
    return int(first.split(" ")[1]), time.monotonic() - started


def test_every_body_taking_endpoint_refuses_an_oversized_body_before_any_work(
    server: RunningServer,
) -> None:
    document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    targets = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("post", "put", "patch")
    ]
    targets.append(("POST", "/api/v1/projects/anything/registry-credentials"))
    assert len(targets) > 10
    anonymous = server.anonymous()
    for method, path in targets:
        declared = anonymous.http.request(method, path, content=b"{" + b" " * _BIG + b"}")
        assert declared.status_code == 413, (method, path, declared.text)
        assert declared.json()["error"] == "body_too_large"

        def chunks() -> object:
            for _ in range(_BIG // 65536 + 1):
                yield b" " * 65536

        streamed = anonymous.http.request(method, path, content=chunks())  # no Content-Length
        assert streamed.status_code == 413, (method, path)
    # A 200 MB promise is refused from the header alone: nothing is read, nobody waits.
    status, seconds = _raw(
        server,
        b"POST /api/v1/projects/x/registry-credentials HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n{",
    )
    assert status == 413 and seconds < 2


def test_json_that_parses_but_is_pathological_is_a_400_that_says_what(
    server: RunningServer,
) -> None:
    dev = server.user("fuzzy")
    dev.ok("POST", "/api/v1/projects", {"name": "fuzzy-app"}, 201)
    cases = {
        "nested deeper than": b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "nested deeper than 32": b'{"name": ' + b"[" * 40 + b"]" * 40 + b"}",
        "digits is too long": b'{"name": "x", "settings": {"max_replicas": 1' + b"0" * 5000 + b"}}",
        "appears twice": b'{"name": "twice-a", "name": "twice-b"}',
        "NaN is not a JSON value": b'{"name": "x", "settings": {"max_replicas": NaN}}',
        "out of range": b'{"name": "x", "settings": {"max_replicas": 1e999}}',
        "not UTF-8": b'{"name": "\xff"}',
    }
    for expected, body in cases.items():
        response = dev.post(
            "/api/v1/projects", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (expected, response.text)
        assert expected in response.json()["message"], (expected, response.json())
    # A repeated key never silently changes meaning: no secret is stored as plain text.
    flip = b'{"value": "hunter2", "secret": true, "secret": false}'
    refused = dev.put(
        "/api/v1/projects/fuzzy-app/env/TOKEN",
        content=flip,
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 400 and "'secret' appears twice" in refused.json()["message"]
    assert dev.get("/api/v1/projects/fuzzy-app/env/TOKEN").status_code == 404
    # The registry's own endpoint goes through the same door.
    deep = b'{"actions": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    registry = dev.post(
        "/api/v1/projects/fuzzy-app/registry-credentials",
        content=deep,
        headers={"Content-Type": "application/json"},
    )
    assert registry.status_code == 400


def test_wrong_content_type_odd_queries_and_headers_are_client_errors(
    server: RunningServer,
) -> None:
    dev = server.user("odd")
    form = dev.post(
        "/api/v1/projects",
        content=b"name=odd-app",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415 and "must be JSON" in form.json()["message"]
    json_but_labelled_text = dev.post(
        "/api/v1/projects", content=b'{"name": "odd-app"}', headers={"Content-Type": "text/plain"}
    )
    assert json_but_labelled_text.status_code == 415
    dev.ok("POST", "/api/v1/projects", {"name": "odd-app"}, 201)
    for limit in ("²", "1e3", "-1", "0", "1001", "", "٣"):
        response = dev.get("/api/v1/projects/odd-app/deployments", params={"limit": limit})
        assert response.status_code == 400, limit
        assert "limit must be a whole number from 1 to 1000" in response.json()["message"]
    status, _ = _raw(
        server,
        b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n",
    )
    assert status == 400


def test_what_the_openapi_document_promises_the_api_enforces(server: RunningServer) -> None:
    document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    params = {
        (path, p["name"]): p["schema"]
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for p in operation.get("parameters", [])
    }
    project = params[("/api/v1/projects/{project}", "project")]
    assert project["maxLength"] == 63 and "pattern" in project
    assert "pattern" in params[("/api/v1/projects/{project}/env/{key}", "key")]
    assert (
        "pattern" in params[("/api/v1/projects/{project}/deployments/{deployment}", "deployment")]
    )
    limit = params[("/api/v1/projects/{project}/deployments", "limit")]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 1000)
    schemas = document["components"]["schemas"]
    create = schemas["DeploymentCreate"]["properties"]
    assert "sha256" in json.dumps(create["image"])
    assert "AppConfig" in json.dumps(create["app_config"]) and "AppConfig" in schemas
    settings = schemas["ProjectSettings"]["properties"]
    assert "pattern" in json.dumps(settings["max_cpu"])
    owner = schemas["ProjectCreate"]["properties"]["owner"]
    assert "(?!.*--)" in json.dumps(owner)
    env_value = schemas["EnvSet"]["properties"]["value"]
    assert env_value["maxLength"] == 32768
    # ... and the API refuses exactly that: a quantity that is none, a tag-only image.
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "promise"}, 201)
    lots = admin.patch("/api/v1/projects/promise", json={"settings": {"max_cpu": "lots; rm -rf"}})
    assert lots.status_code == 400 and "not a Kubernetes quantity" in lots.json()["message"]
    tagged = admin.post("/api/v1/projects/promise/deployments", json={"image": "web:latest"})
    assert tagged.status_code == 400


def test_a_password_with_two_dots_works_over_http_basic(server: RunningServer) -> None:
    server.admin().ok("POST", "/api/v1/users", {"username": "dotty", "password": "a.b.c-pass"}, 201)
    raw = base64.b64encode(b"dotty:a.b.c-pass").decode()
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Basic {raw}"})
    assert me.status_code == 200 and me.json()["username"] == "dotty"


def test_a_500_carries_the_request_id_of_its_log_line(tmp_path: Path) -> None:
    async def broken(request: Request) -> None:
        raise RuntimeError("a bug")

    ctx = build_context(
        load_config(flags={"data_dir": str(tmp_path / "data")}),
        {"RISE_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("rise.server").addHandler(handler)
    try:
        with InProcessServer(create_app(ctx, extra_routes=[Route("/boom", broken)])) as http:
            response = http.get("/boom")
    finally:
        logging.getLogger("rise.server").removeHandler(handler)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    assert "a bug" not in response.text
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    failure = next(r for r in logged if r["message"].startswith("unhandled error on GET /boom"))
    assert failure["request_id"] == request_id and "a bug" in failure["exception"]


def test_bad_input_loses_nothing(server: RunningServer) -> None:
    dev = server.user("careful")
    dev.ok("POST", "/api/v1/projects", {"name": "careful-app"}, 201)
    server.admin().ok("PATCH", "/api/v1/projects/careful-app", {"settings": {"max_cpu": "1"}})
    head = StateRepo(server.state_repo).head()
    for body in (
        {"image": image("careful-app"), "app_config": {"env": {"PORT": "80"}}},
        {"image": image("careful-app"), "app_config": {"deploy": {"cpu": "64"}}, "replicas": 2},
        {"image": "Registry/Web@sha256:" + "0" * 64},
    ):
        response = dev.post("/api/v1/projects/careful-app/deployments", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] in ("invalid_change", "invalid_body")
    assert dev.put("/api/v1/projects/careful-app/env/PORT", json={"value": "1"}).status_code == 400
    assert StateRepo(server.state_repo).head() == head
