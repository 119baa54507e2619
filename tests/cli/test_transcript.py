"""SPEC §1's transcript, typed in a pseudo-terminal against a running ``rise server``.

Each command runs in a pty (pexpect), so the CLI sees a terminal: prompts, spinners with
elapsed time and all. What a person would read on the screen is compared line by line with
the transcript; the names that differ here are the registry (a local ``docker-registry``),
the build backend (buildah or podman: ``pack`` cannot be installed here) and the login,
which is password login until the device flow lands (SPEC §1's first line). A server may
add a ``hint:`` line after an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.server.conftest import USER_PASSWORD, image
from tests.support.deploy_stack import DeployStack, start_deploy_stack
from tests.support.tools import require_tool
from tests.support.waiting import eventually

USER = "niklas"
TRANSCRIPT = """\
$ rise p c secret-app --visibility private --owner team:devopsy
Team 'devopsy' does not exist or you do not have permission to create projects for it. \
Did you mean 'devops'?

$ rise p c secret-app --visibility private --owner team:devops
Created project 'secret-app' with private visibility owned by team:devops.

$ rise p ls
PROJECT         STATUS        URL                             VISIBILITY    OWNER
my-first-app    running       https://my-first-app.rise.dev   public        user:niklas
secret-app      stopped       https://secret-app.rise.dev     private       team:devops

$ cat .rise.toml
project = "secret-app"

[build]
backend = "buildpacks"

$ rise d c secret-app
Building container image 'registry.rise.dev/secret-app:latest' using buildpacks...
Pushing container image to registry.rise.dev...
Deploying 'secret-app' ...
Deployment successful! Your app is now running at https://secret-app.rise.dev
"""
SPINNER = re.compile(r"\r[|/\\-] Building container image '[^']+' using \w+\.\.\. +\d+s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployStack]:
    require_tool("buildah", "apt-get install buildah")
    # A private app's Ingress needs forward auth, which needs the server's public URL.
    running = start_deploy_stack(
        tmp_path_factory.mktemp("transcript"), server_args=("--public-url", "https://rise.dev")
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def world(stack: DeployStack) -> DeployStack:
    """Before the transcript: niklas, his team devops, and his running my-first-app."""
    admin = stack.server.admin()
    niklas = stack.server.user(USER)
    admin.ok("POST", "/api/v1/teams", {"name": "devops", "owners": [USER]}, 201)
    project = {"name": "my-first-app", "visibility": "public"}
    niklas.ok("POST", "/api/v1/projects", project, 201)
    deployed = "/api/v1/projects/my-first-app/deployments"
    niklas.ok("POST", deployed, {"image": image("my-first-app")}, 201)
    eventually(lambda: niklas.ok("GET", deployed)[0]["status"] == "running", timeout=60)
    return stack


def screen(raw: str) -> list[str]:
    """The lines a terminal shows for ``raw``: carriage returns go back to the line's
    start, ESC[2K clears it (how the spinner redraws and then leaves)."""
    lines = []
    for text in raw.replace("\r\n", "\n").split("\n"):
        shown: list[str] = []
        column = 0
        for part in re.split(r"(\r|\x1b\[2K)", text):
            if part == "\r":
                column = 0
            elif part == "\x1b[2K":
                shown = []
            else:
                shown[column : column + len(part)] = part
                column += len(part)
        lines.append("".join(shown))
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run(stack: DeployStack, line: str, cwd: Path) -> tuple[int, str]:
    """Type ``line`` (a ``rise`` or ``cat`` command) in a terminal; (exit status, output)."""
    program, *args = line.split()
    command = stack.cli.command(*args) if program == "rise" else [program, *args]
    child = pexpect.spawn(
        command[0], command[1:], cwd=str(cwd), env=stack.cli.environ, encoding="utf-8",
        dimensions=(50, 250), timeout=240,
    )  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1), child.before or ""


def expected(transcript: str, replacements: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(command, output lines) per ``$`` block of the transcript, names replaced."""
    blocks = []
    for block in transcript.strip().split("\n\n$ "):
        command, *output = block.removeprefix("$ ").splitlines()
        for old, new in replacements.items():
            output = [line.replace(old, new) for line in output]
        blocks.append((command, output))
    return blocks


def test_the_transcript_in_a_terminal(world: DeployStack, tmp_path: Path) -> None:
    stack = world
    app = stack.app(tmp_path / "secret-app", "secret-app")
    backend = "buildah"
    (app / ".rise.toml").write_text(f'project = "secret-app"\n\n[build]\nbackend = "{backend}"\n')

    # The login: password mode (the device flow's link and its approval in Chromium are
    # tests/login/test_rise_login_browser.py).
    login = stack.cli.command("login", stack.server.url, "--password")
    child = pexpect.spawn(
        login[0], login[1:], cwd=str(app), env=stack.cli.environ, encoding="utf-8", timeout=60
    )
    child.expect_exact("Username: ")
    child.sendline(USER)
    child.expect_exact("Password: ")
    child.sendline(USER_PASSWORD)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert screen(child.before or "")[-1] == f"Login successful! Welcome back, {USER}!"
    assert USER_PASSWORD not in (child.before or "")  # not echoed

    replacements = {"registry.rise.dev": stack.registry.host, "buildpacks": backend}
    for command, lines in expected(TRANSCRIPT, replacements):
        status, raw = run(stack, command, app)
        shown = screen(raw)
        if command.endswith("team:devopsy"):
            assert status != 0
            assert shown[0] == lines[0]
            assert all(line.startswith("hint: ") for line in shown[1:]), shown
        elif command == "rise p ls":
            assert status == 0, raw
            assert [line.split() for line in shown] == [line.split() for line in lines]
        else:
            assert status == 0, raw
            assert shown == lines, raw
        if command == "rise d c secret-app":
            assert SPINNER.search(raw), "a spinner with the elapsed time while building"
