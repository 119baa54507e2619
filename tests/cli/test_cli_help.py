"""Every command's ``--help``, docs/cli.md being current, shell completion, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.docs import generate, missing_examples, walk
from cli.main import cli
from tests.server.conftest import RunningServer
from tests.server.conftest import server as server
from tests.support.rise_cli import TREE, RiseCli, logged_in

DOCS = TREE / "docs" / "cli.md"


def _paths() -> list[tuple[str, ...]]:
    return [path for path, _, _ in walk(cli, click.Context(cli, info_name="rise"))]


@pytest.fixture
def rise(tmp_path: Path) -> RiseCli:
    return RiseCli(tmp_path / "xdg")


def test_every_command_has_help(rise: RiseCli):
    paths = [(), *_paths()]
    assert ("team", "update") in paths and ("env", "set") in paths
    for path in paths:
        out = rise.ok(*path, "--help")
        assert out.startswith(f"Usage: rise {' '.join(path)}".rstrip()), out
        command = cli
        for name in path:
            command = command.get_command(click.Context(command), name)  # type: ignore[assignment]
        first_line = (command.help or "").strip().splitlines()[0]
        assert first_line in out, f"rise {' '.join(path)} --help lacks its description"


def test_aliases_reach_the_same_commands(rise: RiseCli):
    for short, long in [(("p", "ls"), ("project", "list")), (("t", "rm"), ("team", "delete"))]:
        assert rise.ok(*short, "--help").replace(" ".join(short), " ".join(long)) == rise.ok(
            *long, "--help"
        )


def test_docs_cli_md_is_current():
    assert DOCS.read_text() == generate(cli), (
        "docs/cli.md is stale: run 'python3 -m cli.docs > docs/cli.md'"
    )


def test_every_command_has_an_example():
    assert missing_examples(cli) == [], "add examples to EXAMPLES in cli/docs.py"


def test_the_exit_code_table_is_documented():
    from cli import errors

    text = DOCS.read_text()
    for code in (errors.EXIT_USAGE, errors.EXIT_AUTH, errors.EXIT_NOT_FOUND, errors.EXIT_CONFLICT):
        assert f"\n| {code} | " in text
        assert f"\n| {code} | " in (errors.__doc__ or "")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(rise: RiseCli, shell: str):
    script = rise.ok("completion", shell)
    assert "_RISE_COMPLETE" in script
    if shell == "bash":
        checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        assert checked.returncode == 0, checked.stderr


def _complete(rise: RiseCli, words: str) -> list[str]:
    result = rise.run(
        env={
            "_RISE_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
    )
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completes_commands_and_project_and_team_names(server: RunningServer, tmp_path: Path):
    rise = logged_in(server, tmp_path / "xdg")
    rise.ok("p", "c", "complete-me")
    rise.ok("t", "c", "complete-team")
    assert _complete(rise, "rise te") == ["team"]
    assert _complete(rise, "rise p s compl") == ["complete-me"]
    assert _complete(rise, "rise env set compl") == ["complete-me"]
    assert _complete(rise, "rise t s complete-t") == ["complete-team"]
    stranger = RiseCli(tmp_path / "stranger")  # not logged in: nothing, and no error
    assert _complete(stranger, "rise p s compl") == []


def _modules_after(rise: RiseCli, *args: str) -> set[str]:
    """The modules ``rise ARGS`` imported, as it ran in a fresh interpreter."""
    script = (
        "import sys, json\n"
        "from cli.main import cli\n"
        "try:\n"
        f"    cli.main({list(args)!r}, prog_name='rise')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=rise.env(),
        cwd=TREE,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.splitlines()[-1]))


def _top(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_help_imports_no_heavy_library(rise: RiseCli):
    loaded = _top(_modules_after(rise, "--help"))
    assert loaded & {"httpx", "pygit2", "kubernetes", "yaml", "pydantic", "jinja2"} == set()


def test_project_list_imports_only_what_it_needs(server: RunningServer, tmp_path: Path):
    rise = logged_in(server, tmp_path / "xdg")
    loaded = _top(_modules_after(rise, "p", "ls"))
    assert "httpx" in loaded  # it did talk to the server
    assert loaded & {"pygit2", "kubernetes", "jinja2", "pydantic", "yaml"} == set()
