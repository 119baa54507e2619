"""Crash recovery (issue 14, item 15): what a kill -9 or a crashed git leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import ADMIN_PASSWORD, RunningServer, image, start_server


def _age(path: Path, seconds: float = 3600) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def _leave(path: Path, content: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    _age(path)
    return path


def test_locks_and_temporary_files_left_by_a_crash_are_cleared_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start_server(data).terminate()
    state = data / "state.git"
    head = (state / "refs" / "heads" / "main").read_bytes()
    leftovers = [
        _leave(state / "refs" / "heads" / "main.lock", head),
        _leave(state / "packed-refs.lock"),
        _leave(state / "objects" / "ab" / "tmp_obj_killed"),
        _leave(data / ".users.json.1a2b3c4d", b'{"users": {'),
        _leave(data / "keys" / ".jwt-20261201T000000.tmp", b"-----BEGIN"),
    ]
    server = start_server(data)
    try:
        assert [path for path in leftovers if path.exists()] == []
        assert "refs/heads/main.lock" in server.log()
        admin = server.admin()
        admin.ok("POST", "/api/v1/projects", {"name": "after-crash"}, 201)
        admin.ok("POST", "/api/v1/projects/after-crash/deployments", {"image": image("x")}, 201)
    finally:
        server.terminate()


def test_a_store_that_cannot_commit_is_not_ready_and_says_why(server: RunningServer) -> None:
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "stuck"}, 201)
    lock = server.state_repo / "refs" / "heads" / "main.lock"
    _leave(lock, (server.state_repo / "refs" / "heads" / "main").read_bytes())
    try:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        assert "main.lock" in ready.json()["reason"]
        refused = admin.post("/api/v1/projects/stuck/deployments", json={"image": image("stuck")})
        assert refused.status_code == 503, refused.text  # not a 409 that says "try again"
        assert refused.json()["error"] == "state_unavailable"
        assert "main.lock" in refused.json()["message"]
    finally:
        lock.unlink()
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    admin.ok("POST", "/api/v1/projects/stuck/deployments", {"image": image("stuck")}, 201)


@pytest.mark.parametrize(
    "relative", ["keys/jwt-20261201T000000.pem", "secrets.key", "users.json", "registry/ca.pem"]
)
def test_an_empty_key_file_from_an_interrupted_first_start_is_named(
    tmp_path: Path, relative: str
) -> None:
    data = tmp_path / "data"
    start_server(data).terminate()
    target = data / relative
    if relative.startswith("keys/"):
        for old in (data / "keys").glob("jwt-*.pem"):
            old.unlink()
    if not target.exists() and relative.startswith("registry/"):
        target = next(p for p in sorted((data / "registry").iterdir()) if p.suffix == ".pem")
    target.write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
    env["RISE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "server", "--data-dir", str(data), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode != 0
    assert str(target) in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
