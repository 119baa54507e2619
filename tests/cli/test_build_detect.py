"""How ``rise build`` picks its backend and settings: flag > RISE_* > .rise.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.images import BuildError, BuildOptions, ToolMissing, plan_build
from cli.images.detect import parse_build_args
from tests.support.tools import require_tool


def app(tmp_path: Path, rise_toml: str = "", dockerfile: str | None = "FROM scratch\n") -> Path:
    folder = tmp_path / "My App"
    folder.mkdir()
    if rise_toml:
        (folder / ".rise.toml").write_text(rise_toml)
    if dockerfile is not None:
        (folder / "Dockerfile").write_text(dockerfile)
    return folder


def everything(name: str) -> bool:
    return True


def nothing(name: str) -> bool:
    return False


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    folder = app(tmp_path, '[build]\nbackend = "podman"\nplatform = "linux/arm64"\n')
    env = {"RISE_BUILD_BACKEND": "buildah", "RISE_BUILD_PLATFORM": "linux/amd64"}
    flag = plan_build(folder, BuildOptions(backend="docker", platform="linux/s390x"), env, nothing)
    assert (flag.backend, flag.reason, flag.spec.platform) == ("docker", "--backend", "linux/s390x")
    by_env = plan_build(folder, BuildOptions(), env, nothing)
    assert (by_env.backend, by_env.reason) == ("buildah", "RISE_BUILD_BACKEND")
    assert by_env.spec.platform == "linux/amd64"
    by_file = plan_build(folder, BuildOptions(), {}, nothing)
    assert (by_file.backend, by_file.reason) == ("podman", ".rise.toml [build] backend")
    assert by_file.spec.platform == "linux/arm64"


def test_auto_prefers_docker_then_podman_then_buildah(tmp_path: Path) -> None:
    folder = app(tmp_path)
    assert plan_build(folder, BuildOptions(), {}, everything).backend == "docker"
    only = {"buildah"}
    assert plan_build(folder, BuildOptions(), {}, only.__contains__).backend == "buildah"
    with pytest.raises(ToolMissing, match="install one of docker"):
        plan_build(folder, BuildOptions(), {}, nothing)


def test_auto_without_dockerfile_uses_buildpacks(tmp_path: Path) -> None:
    plan = plan_build(app(tmp_path, dockerfile=None), BuildOptions(), {}, everything)
    assert (plan.backend, plan.reason) == ("pack", "auto: no Dockerfile, so buildpacks")
    assert plan.spec.dockerfile is None


def test_containerfile_counts_and_buildpacks_is_pack(tmp_path: Path) -> None:
    folder = app(tmp_path, '[build]\nbackend = "buildpacks"\nbuilder = "b:1"\n', dockerfile=None)
    (folder / "Containerfile").write_text("FROM scratch\n")
    plan = plan_build(folder, BuildOptions(), {"RISE_BUILDER": "b:2"}, everything)
    assert plan.backend == "pack"
    assert plan.spec.builder == "b:2"
    assert plan.spec.dockerfile == folder.resolve() / "Containerfile"


def test_real_tools_on_path_decide_auto(tmp_path: Path) -> None:
    folder = app(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "buildah").symlink_to(require_tool("buildah", "apt-get install buildah"))
    environ = {"PATH": str(bin_dir), "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    plan = plan_build(folder, BuildOptions(), environ)
    assert (plan.backend, plan.reason) == (
        "buildah",
        "auto: Dockerfile found, buildah is available",
    )
    (bin_dir / "podman").symlink_to(require_tool("podman", "apt-get install podman"))
    assert plan_build(folder, BuildOptions(), environ).backend == "podman"


def test_typo_in_backend_suggests_the_name(tmp_path: Path) -> None:
    folder = app(tmp_path)
    with pytest.raises(BuildError, match="unknown build backend 'bildah' — did you mean 'buildah'"):
        plan_build(folder, BuildOptions(backend="bildah"), {}, everything)
    with pytest.raises(BuildError, match="RISE_BUILD_BACKEND: unknown build backend 'pak'"):
        plan_build(folder, BuildOptions(), {"RISE_BUILD_BACKEND": "pak"}, everything)


def test_dockerfile_backend_without_dockerfile_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="Add a Dockerfile"):
        plan_build(app(tmp_path, dockerfile=None), BuildOptions(backend="buildah"), {}, everything)


def test_invalid_rise_toml_names_file_key_and_fix(tmp_path: Path) -> None:
    folder = app(tmp_path, '[build]\nbackendd = "docker"\n')
    with pytest.raises(BuildError) as info:
        plan_build(folder, BuildOptions(), {}, everything)
    message = str(info.value)
    assert ".rise.toml" in message and "backendd" in message and "'backend'" in message


def test_configured_paths_must_exist(tmp_path: Path) -> None:
    folder = app(tmp_path, '[build]\ndockerfile = "deploy/Dockerfile.prod"\n')
    with pytest.raises(BuildError, match=r"\[build\] dockerfile: .*Dockerfile.prod is not a file"):
        plan_build(folder, BuildOptions(), {}, everything)
    (folder / "deploy").mkdir()
    (folder / "deploy" / "Dockerfile.prod").write_text("FROM scratch\n")
    (folder / "src").mkdir()
    folder_toml = '[build]\ndockerfile = "deploy/Dockerfile.prod"\ncontext = "src"\n'
    (folder / ".rise.toml").write_text(folder_toml)
    plan = plan_build(folder, BuildOptions(), {}, everything)
    assert plan.spec.context == (folder / "src").resolve()
    assert plan.spec.dockerfile == (folder / "deploy" / "Dockerfile.prod").resolve()


def test_build_args_merge_file_then_flags(tmp_path: Path) -> None:
    folder = app(tmp_path, '[build]\nargs = ["A=1", "B=file"]\n')
    plan = plan_build(folder, BuildOptions(build_args=["B=flag", "C=x=y"]), {}, everything)
    assert plan.spec.build_args == {"A": "1", "B": "flag", "C": "x=y"}
    with pytest.raises(BuildError, match="must be KEY=VALUE"):
        parse_build_args(["no-equals"])
    with pytest.raises(BuildError, match="must be KEY=VALUE"):
        parse_build_args(["1BAD=x"])


def test_default_tag_comes_from_the_project_or_the_folder(tmp_path: Path) -> None:
    plain = plan_build(app(tmp_path), BuildOptions(), {}, everything)
    assert (plain.spec.tag, plain.project) == ("my-app:latest", None)
    other = tmp_path / "second"
    other.mkdir()
    named = app(other, 'project = "web"\n')
    plan = plan_build(named, BuildOptions(), {}, everything)
    assert (plan.spec.tag, plan.project) == ("web:latest", "web")
    assert plan_build(named, BuildOptions(tag="web:v2"), {}, everything).spec.tag == "web:v2"


def test_environment_is_only_what_is_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # plan_build reads no global state: the process's own RISE_* do not leak in.
    monkeypatch.setenv("RISE_BUILD_BACKEND", "railpack")
    assert plan_build(app(tmp_path), BuildOptions(), {}, everything).backend == "docker"
