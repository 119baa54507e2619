"""``rise dev`` and ``rise server --runtime docker`` as a newcomer meets them: what they print,
what they do without a container engine, and how they refuse what cannot work."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.dev import ROOT, start_dev


def _rise(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_an_engine_rise_dev_runs_the_rendered_runtime_and_says_why(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "bin"  # a PATH with neither podman nor docker-registry
    empty.mkdir()
    dev = start_dev(tmp_path / "data", admin_password=None, env_extra={"PATH": str(empty)})
    try:
        banner = dev.log()
        assert "rendered runtime" in banner and "podman is not installed" in banner
        assert "registry: none (install docker-registry" in banner
        password = re.search(r"password (\S+)\s+\(shown once", banner)
        assert password, banner
        login = httpx.post(
            f"{dev.url}/api/v1/auth/login",
            json={"username": "admin", "password": password.group(1)},
        )
        assert login.status_code == 200
    finally:
        assert dev.interrupt() == 0
    assert "rise dev stopped" in dev.log()

    again = start_dev(tmp_path / "data", admin_password=None, env_extra={"PATH": str(empty)})
    try:
        assert password.group(1) not in again.log()  # printed once only
        assert f"password in {tmp_path / 'data' / 'admin-password'}" in again.log()
    finally:
        again.interrupt()


def test_rise_dev_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _rise(
            "dev", "--data-dir", str(tmp_path / "d"), "--port", str(port), env=dict(os.environ)
        )
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr and "--port" in result.stderr


def test_rise_dev_refuses_an_apps_domain_that_is_not_one(tmp_path: Path) -> None:
    data = tmp_path / "d"
    result = _rise(
        "dev", "--data-dir", str(data), "--apps-domain", "http://apps.test", env=dict(os.environ)
    )
    assert result.returncode == 2
    assert (
        "--apps-domain" in result.stderr and "'http://apps.test' is not a domain" in result.stderr
    )
    assert not data.exists()


def test_rise_server_with_the_docker_runtime_and_no_engine_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    data = tmp_path / "data"
    result = _rise("server", "--data-dir", str(data), "--runtime", "docker", env=env)
    assert result.returncode == 1
    assert "--runtime docker needs a Docker API" in result.stderr
    assert "rise dev" in result.stderr
    assert not data.exists()
