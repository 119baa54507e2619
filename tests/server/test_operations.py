"""Operations over real HTTP: health, metrics, OpenAPI, JSON logs, config errors, SIGTERM."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pygit2
import pytest
from openapi_spec_validator import validate

from reconciler.state import StateRepo
from tests.server.conftest import ADMIN_PASSWORD, RunningServer, image, start_server


def test_health_readiness_and_version(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/version").json()["api"] == "v1"


def test_the_openapi_document_is_valid_and_covers_the_contract(server: RunningServer) -> None:
    document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    validate(document)
    paths = document["paths"]
    for path, method in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/teams", "post"),
        ("/api/v1/projects", "post"),
        ("/api/v1/projects/{project}/deployments", "post"),
        ("/api/v1/projects/{project}/deployments", "get"),
        ("/api/v1/projects/{project}/env/{key}", "put"),
        ("/webhooks/git", "post"),
    ]:
        assert method in paths[path], (path, method)
    login = paths["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    schemas = document["components"]["schemas"]
    assert "from" in schemas["DeploymentCreate"]["properties"]
    assert set(schemas["TokenResponse"]["required"]) >= {"access_token", "expires_in"}


def test_metrics_are_prometheus_text_labelled_by_route_template(server: RunningServer) -> None:
    api = server.user("metrics-user")
    api.ok("POST", "/api/v1/projects", {"name": "metered", "visibility": "private"}, 201)
    api.ok("GET", "/api/v1/projects/metered")
    response = httpx.get(f"{server.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert (
        'rise_http_requests_total{method="GET",route="/api/v1/projects/{project}",status="200"}'
        in text
    )
    assert 'rise_state_commits_total{outcome="committed"}' in text
    assert "rise_http_request_duration_seconds_bucket{" in text
    assert "metered" not in text  # private names never become labels
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_logs_are_json_with_request_id_user_and_project(server: RunningServer) -> None:
    api = server.user("logged")
    response = api.post(
        "/api/v1/projects", json={"name": "logged-app"}, headers={"X-Request-ID": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    odd = api.get("/api/v1/projects", headers={"X-Request-ID": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"
    records = server.log_records()
    traced = [r for r in records if r.get("request_id") == "trace-42"]
    line = next(r for r in traced if r["logger"] == "rise.access")
    assert (line["user"], line["project"], line["status"], line["method"]) == (
        "logged",
        "logged-app",
        201,
        "POST",
    )
    commit = next(r for r in traced if r["logger"] == "rise.state")  # from the worker thread
    assert commit["author"] == "logged" and commit["commit"] == response.json()["commit"]
    assert all(json.loads(raw) for raw in server.log().splitlines() if raw.strip())


def test_unknown_routes_and_methods_answer_json(server: RunningServer) -> None:
    missing = httpx.get(f"{server.url}/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.put(f"{server.url}/api/v1/projects")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_the_data_dir_keeps_keys_and_passwords_private_and_out_of_git(
    server: RunningServer,
) -> None:
    for path in [
        *(server.data_dir / "keys").glob("*.pem"),
        server.data_dir / "users.json",
        server.data_dir / "secrets.key",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "scrypt$" in (server.data_dir / "users.json").read_text()
    repo = pygit2.Repository(str(server.state_repo))
    blobs = b"".join(repo.odb.read(oid)[1] for oid in repo.odb)
    assert b"scrypt$" not in blobs and ADMIN_PASSWORD.encode() not in blobs


def test_a_bad_configuration_stops_the_start_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("prot = 8000\n[auth]\naccess_token_ttl = 5\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "server",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 1
    assert "unknown key 'prot' at the top level — did you mean 'port'?" in result.stderr
    assert "access_token_ttl" in result.stderr
    assert "nothing started" in result.stderr
    assert not (tmp_path / "data").exists()


def test_sigterm_during_deploys_keeps_every_commit_whole_and_exits_0(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data")
    api = running.user("deployer")
    api.ok("POST", "/api/v1/projects", {"name": "busy"}, 201)
    answered: list[dict[str, object]] = []
    halfway = threading.Event()

    def deploy(n: int) -> None:
        try:
            response = api.post(
                "/api/v1/projects/busy/deployments", json={"image": image("busy", n)}
            )
        except httpx.TransportError:
            return  # refused once the server stopped listening: never started
        if response.status_code == 201:
            answered.append(response.json())
        else:
            assert response.status_code == 503, response.text  # the gate closed
        if len(answered) >= 5:
            halfway.set()

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(deploy, n) for n in range(200)]
        assert halfway.wait(30)
        assert running.terminate() == 0
        for future in futures:
            future.result()

    log = running.log()
    assert "rise server stopped" in log
    repo = StateRepo(running.state_repo)
    history = repo.history("projects/busy/deployment.toml")
    committed = {entry.commit for entry in history}
    assert {body["commit"] for body in answered} <= committed  # every 201 is in git
    assert len(history) >= len(answered)
    assert repo.snapshot().all_problems == []
    for entry in history:  # and every deployment commit is whole
        state = repo.snapshot(entry.commit).projects["busy"]
        assert state.valid and state.deployment is not None
        assert entry.message.startswith(f"deploy busy {state.deployment.id}")


@pytest.mark.parametrize("variable", ["RISE_DATADIR"])
def test_a_mistyped_variable_is_reported_at_start(tmp_path: Path, variable: str) -> None:
    running = start_server(tmp_path / "data", extra_env={variable: "/elsewhere"})
    try:
        warnings = [r for r in running.log_records() if r["level"] == "warning"]
        assert any("did you mean RISE_DATA_DIR" in r["message"] for r in warnings)
    finally:
        assert running.terminate() == 0


def test_a_remote_state_repository_is_cloned_and_pushed_to(tmp_path: Path) -> None:
    remote = StateRepo.init(tmp_path / "remote.git")
    running = start_server(tmp_path / "data", extra_env={"RISE_STATE__URL": remote.path})
    try:
        created = running.user("remote-user").ok(
            "POST", "/api/v1/projects", {"name": "far-away"}, 201
        )
    finally:
        assert running.terminate() == 0
    assert (tmp_path / "data" / "state-cache.git").is_dir()
    assert remote.head() == created["commit"]  # the push landed in the remote
    assert remote.snapshot().projects["far-away"].project.created_by == "remote-user"
