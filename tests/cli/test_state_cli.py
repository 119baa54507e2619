"""``rise state init`` and ``rise state validate`` as a team runs them in CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from reconciler.state import Author, Edit, StateRepo
from tests.conftest import EXAMPLES


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_from_examples_then_validate(tmp_path: Path) -> None:
    target = tmp_path / "state.git"
    result = _run("state", "init", str(target), "--from", str(EXAMPLES / "state"))
    assert result.exit_code == 0, result.output
    assert "Created state repository" in result.output
    result = _run("state", "validate", str(target))
    assert result.exit_code == 0, result.output
    assert "3 projects, 2 teams" in result.output and "valid." in result.output


def test_init_refuses_an_invalid_tree_and_creates_nothing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "state", source)
    with (source / "projects/my-first-app/.rise.toml").open("a") as f:
        f.write("\n[environments.prod.deploy]\nhelth = { path = '/' }\n")
    result = _run("state", "init", str(tmp_path / "out.git"), "--from", str(source))
    assert result.exit_code == 1
    assert (
        "projects/my-first-app/.rise.toml: unknown key 'helth' in "
        "[environments.prod.deploy] — did you mean 'health'?"
    ) in result.output
    assert not (tmp_path / "out.git").exists()


def test_validate_lists_every_problem_and_exits_1(example_repo: StateRepo) -> None:
    def break_things(edit: Edit) -> str:
        edit.write("projects/my-first-app/deployment.toml", b"replicas = 'two'\n")
        edit.write("projects/UPPER/project.toml".lower(), b"owner = 'nobody'\n")
        edit.write("teams/devops.toml", b"owners = [\n")
        edit.write("projects/docs-site/extra.toml", b"")
        return "break"

    example_repo.commit(break_things, Author("mallory"))
    result = _run("state", "validate", example_repo.path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert (
        "projects/my-first-app/deployment.toml: missing required key 'id' at the top level" in lines
    )
    assert "projects/upper/project.toml: owner 'nobody' must be 'user:<name>' or 'team:<name>'" in (
        "\n".join(lines).replace("key 'owner': ", "")
    )
    assert any(line.startswith("teams/devops.toml: malformed TOML") for line in lines)
    assert any(line.startswith("projects/docs-site/extra.toml: unknown file") for line in lines)
    # The earlier commit is still valid: --ref checks any commit.
    assert _run("state", "validate", example_repo.path, "--ref", "HEAD~1").exit_code == 0


def test_validate_a_clone_at_a_branch(example_repo: StateRepo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", example_repo.path, str(clone)], check=True)
    assert _run("state", "validate", str(clone)).exit_code == 0
    assert _run("state", "validate", str(clone), "--ref", "origin/main").exit_code == 0
    result = _run("state", "validate", str(clone), "--ref", "nope")
    assert result.exit_code == 1
    assert "no commit 'nope'" in result.output


def test_validate_a_folder_that_is_not_a_repo(tmp_path: Path) -> None:
    result = _run("state", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert "not a git repository" in result.output


def test_rise_help_lists_commands_without_importing_heavy_modules() -> None:
    code = (
        "import sys; from cli.main import main; sys.argv=['rise','--help'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('pygit2','kubernetes','boto3','starlette','jinja2') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "state" in out.stdout
    assert "HEAVY []" in out.stdout


def test_aliases_and_typo_suggestions() -> None:
    result = CliRunner().invoke(cli, ["stat", "validate"])
    assert result.exit_code == 2
    assert "Did you mean 'state'?" in result.output


# -- issue 14: one validator, the right target, every problem (items 10 and 16) -------------


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_validate_checks_the_folder_given_not_the_repository_around_it(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    shutil.copytree(EXAMPLES / "state", outer)
    _git("init", "-q", cwd=outer)
    _git("add", ".", cwd=outer)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ok", cwd=outer)
    inner = outer / "candidate"
    shutil.copytree(EXAMPLES / "state", inner)
    (inner / "projects/docs-site/env.toml").write_text('[vars]\nPORT = "80"\n')
    result = _run("state", "validate", str(inner))
    assert result.exit_code == 1, result.output
    assert "projects/docs-site/env.toml: PORT is set by rise" in result.output
    assert f"in the files in {inner}" in result.output


def test_a_clone_says_what_it_checked_and_can_check_the_working_files(
    example_repo: StateRepo, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", example_repo.path, str(clone)], check=True)
    (clone / "projects/docs-site/project.toml").write_text('owner = "team:nobody"\n')
    committed = _run("state", "validate", str(clone))
    assert committed.exit_code == 0
    assert "the committed tree at HEAD" in committed.output
    assert "not the working files (--working checks those)" in committed.output
    working = _run("state", "validate", str(clone), "--working")
    assert working.exit_code == 1
    assert "owner 'team:nobody' names a team that does not exist" in working.output


def test_every_problem_is_reported_in_one_run_by_the_one_validator(
    example_repo: StateRepo,
) -> None:
    def break_things(edit: Edit) -> str:
        edit.write("projects/my-first-app/env.toml", b'[vars]\nPORT = "80"\n')
        edit.write(
            "projects/my-first-app/project.toml",
            b'owner = "user:niklas"\n[settings]\nmax_cpu = "100m"\n',
        )
        edit.write("projects/docs-site/project.toml", b'owner = "team:devopz"\n')
        edit.write(
            "projects/secret-app/project.toml",
            b'owner = "user:a"\n[settings]\nmax_memory = "lots; rm -rf"\n',
        )
        return "break"

    example_repo.commit(break_things, Author("mallory"))
    result = _run("state", "validate", example_repo.path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    expected = [
        "projects/my-first-app/env.toml: PORT is set by rise",
        "projects/my-first-app/.rise.toml: cpu = '250m' in [deploy] is above this project's "
        "max_cpu = '100m'",
        "projects/docs-site/project.toml: owner 'team:devopz' names a team that does not exist "
        "— did you mean 'devops'?",
        "projects/secret-app/project.toml: key 'max_memory' in [settings]: 'lots; rm -rf' is "
        "not a Kubernetes quantity",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert "4 problem(s)" in result.output
