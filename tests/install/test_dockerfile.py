"""The Dockerfile, read statically (no engine or base image here to build it with).

Multi-stage; the final stage runs as the non-root uid the manifests expect, installs and
compiles nothing, and gets every part of rise the server needs.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from cli.install.manifests import render_kubernetes
from schemas.install import InstallValues, StateValues
from tests.install.conftest import ROOT

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|apt-get install|pip install)\b")


def stages() -> list[list[tuple[str, str]]]:
    """(instruction, arguments) per stage, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            out.append([])
        if out:
            out[-1].append((instruction.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def final() -> list[tuple[str, str]]:
    return stages()[-1]


def args_of(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [args for name, args in stage if name == instruction]


def test_it_is_multi_stage_and_the_final_stage_copies_from_the_build(
    final: list[tuple[str, str]],
) -> None:
    assert len(stages()) >= 2
    assert "AS build" in args_of(stages()[0], "FROM")[0]
    assert any(a.startswith("--from=build") for a in args_of(final, "COPY"))


def test_the_final_stage_has_no_build_tools(final: list[tuple[str, str]]) -> None:
    for command in args_of(final, "RUN"):
        assert not BUILD_TOOLS.search(command), command
        assert "uninstall -y pip" in command, "the installer itself is removed"


def test_it_runs_as_the_non_root_user_the_manifests_expect(final: list[tuple[str, str]]) -> None:
    [user] = args_of(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so runAsNonRoot can check it"
    deployment: dict[str, Any] = next(
        o
        for o in render_kubernetes(
            InstallValues(state=StateValues(url="https://git.example.com/s.git"))
        )
        if o["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    [port] = args_of(final, "EXPOSE")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert int(port) == container["ports"][0]["containerPort"]
    assert args_of(final, "ENTRYPOINT") == ['["rise", "server"]']


def test_every_package_and_the_templates_reach_the_image() -> None:
    build = stages()[0]
    copied = {args.split()[0] for args in args_of(build, "COPY")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages | {"templates", "pyproject.toml"} <= copied
