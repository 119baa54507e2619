"""Backends: the exact command lines they run, and one clear error when a tool is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.images import BuildError, BuildSpec, ToolMissing, get_backend
from cli.images.backends import BuildahBackend, BuiltImage, Login, PodmanBackend
from cli.main import cli
from tests.support.containers import container_env
from tests.support.tools import require_tool

SPEC = BuildSpec(
    context=Path("/src/app"),
    tag="web:v1",
    dockerfile=Path("/src/app/Dockerfile.prod"),
    build_args={"VERSION": "1.2", "MODE": "a b"},
    platform="linux/arm64",
    no_cache=True,
    builder="paketobuildpacks/builder-jammy-tiny",
    buildpacks=("paketo-buildpacks/python",),
)


def test_pack_command() -> None:
    assert get_backend("buildpacks", {}).command(SPEC) == [  # type: ignore[attr-defined]
        "pack", "build", "web:v1", "--path", "/src/app",
        "--builder", "paketobuildpacks/builder-jammy-tiny",
        "--buildpack", "paketo-buildpacks/python",
        "--env", "VERSION=1.2", "--env", "MODE=a b",
        "--platform", "linux/arm64", "--clear-cache",
    ]  # fmt: skip
    minimal = BuildSpec(context=Path("/src/app"), tag="web:latest")
    assert get_backend("pack", {}).command(minimal) == [  # type: ignore[attr-defined]
        "pack", "build", "web:latest", "--path", "/src/app",
        "--builder", "paketobuildpacks/builder-jammy-base",
    ]  # fmt: skip


def test_nixpacks_command() -> None:
    assert get_backend("nixpacks", {}).command(SPEC) == [  # type: ignore[attr-defined]
        "nixpacks", "build", "/src/app", "--name", "web:v1",
        "--env", "VERSION=1.2", "--env", "MODE=a b",
        "--platform", "linux/arm64", "--no-cache",
    ]  # fmt: skip


def test_railpack_command_and_its_missing_no_cache() -> None:
    railpack = get_backend("railpack", {})
    spec = BuildSpec(context=Path("/src/app"), tag="web:v1", build_args={"A": "1"})
    assert railpack.command(spec) == [  # type: ignore[attr-defined]
        "railpack", "build", "/src/app", "--name", "web:v1", "--env", "A=1",
    ]  # fmt: skip
    with pytest.raises(BuildError, match="railpack has no --no-cache"):
        railpack.command(SPEC)  # type: ignore[attr-defined]


def test_buildah_and_podman_commands() -> None:
    iid = Path("/tmp/iid")
    expected_tail = [
        "-t", "web:v1", "-f", "/src/app/Dockerfile.prod",
        "--build-arg", "VERSION=1.2", "--build-arg", "MODE=a b",
        "--platform", "linux/arm64", "--no-cache", "/src/app",
    ]  # fmt: skip
    assert BuildahBackend({}).build_command(SPEC, iid) == [
        "buildah",
        "bud",
        "--iidfile",
        "/tmp/iid",
        *expected_tail,
    ]
    assert PodmanBackend({}).build_command(SPEC, iid) == [
        "podman",
        "build",
        "--iidfile",
        "/tmp/iid",
        *expected_tail,
    ]
    push = PodmanBackend({}).push_command(
        BuiltImage("web:v1", None), "reg:5000/web:v1", Login(Path("/run/a.json")), Path("/d")
    )
    assert push == [
        "podman", "push", "--digestfile", "/d", "--authfile", "/run/a.json",
        "web:v1", "docker://reg:5000/web:v1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("destination", "plain_http_allowed"),
    [
        ("127.0.0.1:5002/web:v1", True),
        ("localhost:5000/team/web:v1", True),
        ("[::1]:5000/web:v1", True),
        ("registry.example.com/web:v1", False),
        ("10.0.0.5:5000/web:v1", False),
        ("localhost.example.com/web:v1", False),
    ],
)
def test_a_push_to_a_registry_on_this_machine_may_use_plain_http(
    destination: str, plain_http_allowed: bool
):
    # As Docker treats 127.0.0.0/8: rise dev's registry speaks http on loopback, and only there.
    push = PodmanBackend({}).push_command(
        BuiltImage("web:v1", None), destination, Login(None), Path("/d")
    )
    assert ("--tls-verify=false" in push) is plain_http_allowed


@pytest.mark.parametrize(
    ("backend", "hint"),
    [
        ("pack", "buildpacks.io"),
        ("nixpacks", "nixpacks.com"),
        ("railpack", "railpack.com"),
        ("buildah", "apt-get install buildah"),
        ("podman", "apt-get install podman"),
    ],
)
def test_missing_tool_is_one_clear_error(backend: str, hint: str, tmp_path: Path) -> None:
    tool = get_backend(backend, {"PATH": str(tmp_path)})
    assert not tool.available()
    with pytest.raises(ToolMissing) as info:
        tool.build(BuildSpec(context=tmp_path, tag="web:latest"), print)
    message = str(info.value)
    assert f"{tool.tool} is not installed" in message  # type: ignore[attr-defined]
    assert hint in message and "--backend" in message


def test_docker_backend_without_an_engine_says_how_to_get_one(tmp_path: Path) -> None:
    docker = get_backend("docker", {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert not docker.available()
    with pytest.raises(ToolMissing, match="podman system service"):
        docker.build(BuildSpec(context=tmp_path, tag="web:latest"), print)


def _hello(tmp_path: Path, dockerfile: str | None = None) -> Path:
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / ".rise.toml").write_text('project = "web"\n')
    if dockerfile:
        (folder / "Dockerfile").write_text(dockerfile)
    return folder


def test_rise_build_reports_the_missing_tool(tmp_path: Path) -> None:
    folder = _hello(tmp_path)
    result = CliRunner().invoke(cli, ["build", str(folder)], env={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "using pack (auto: no Dockerfile, so buildpacks)" in result.output
    assert "Error: pack is not installed: the pack backend needs it." in result.output


def test_rise_build_runs_exactly_the_command_line_built(tmp_path: Path) -> None:
    # nixpacks cannot be installed here; a stand-in on PATH records how it is called.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.txt"
    (bin_dir / "nixpacks").write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {record}\n')
    (bin_dir / "nixpacks").chmod(0o755)
    folder = _hello(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["build", str(folder), "--backend", "nixpacks", "--build-arg", "A=1 2", "-t", "web:x"],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "web:x"
    assert record.read_text().splitlines() == [
        "build",
        str(folder.resolve()),
        "--name",
        "web:x",
        "--env",
        "A=1 2",
    ]


def test_failing_build_shows_the_tool_output(tmp_path: Path) -> None:
    require_tool("buildah", "apt-get install buildah")
    env = container_env(tmp_path / "containers")
    try:
        folder = _hello(tmp_path, 'FROM scratch\nRUN ["/no/such/shell", "-c", "true"]\n')
        result = CliRunner().invoke(
            cli, ["build", str(folder), "--backend", "buildah"], env=env.variables
        )
    finally:
        env.remove()
    assert result.exit_code == 1
    assert "Error: building web:latest with buildah failed (buildah exited with" in result.output
    assert "its output is above" in result.output
    # The tool's own error line is shown once, above the summary (issue 14, item 17).
    failing = [line for line in result.output.splitlines() if "/no/such/shell" in line]
    assert failing and len(failing) == len(set(failing)), result.output
