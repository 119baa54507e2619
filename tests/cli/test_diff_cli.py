"""``rise diff --from A --to B``: what would change between two commits, no cluster needed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from reconciler.secrets import SecretBox
from reconciler.state import Author, Edit, StateRepo
from tests.reconciler.golden import GOLDEN, golden_box, golden_repo

DEPLOYMENT = "projects/my-first-app/deployment.toml"


@pytest.fixture
def repo(tmp_path: Path) -> StateRepo:
    return golden_repo(tmp_path / "state.git")


def _commit(repo: StateRepo, files: dict[str, str | None]) -> str:
    def change(edit: Edit) -> str:
        for path, text in files.items():
            if text is None:
                edit.delete(path)
            else:
                edit.write(path, text)
        return "test change"

    commit = repo.commit(change, Author("niklas")).commit
    assert commit is not None
    return commit


def _edit(repo: StateRepo, path: str, old: str, new: str) -> str:
    text = repo.read(path)
    assert text is not None and old in text.decode()
    return _commit(repo, {path: text.decode().replace(old, new)})


def _push_by_hand(repo: StateRepo, folder: str, project_toml: bytes) -> str:
    """A commit as `git push` could make it, past rise's own checks on names."""
    git = pygit2.Repository(repo.path)
    head = git.revparse_single("main")
    inner = git.TreeBuilder()
    inner.insert("project.toml", git.create_blob(project_toml), pygit2.GIT_FILEMODE_BLOB)
    projects = git.TreeBuilder(head.tree["projects"])
    projects.insert(folder, inner.write(), pygit2.GIT_FILEMODE_TREE)
    root = git.TreeBuilder(head.tree)
    root.insert("projects", projects.write(), pygit2.GIT_FILEMODE_TREE)
    who = pygit2.Signature("niklas", "niklas@example.com")
    return str(git.create_commit("refs/heads/main", who, who, "by hand", root.write(), [head.id]))


def _diff(repo: StateRepo, old: str, new: str, *args: str) -> Result:
    runner = CliRunner(env={"RISE_CONFIG": None, "RISE_PUBLIC_URL": "https://rise.example"})
    return runner.invoke(
        cli, ["diff", "--state", repo.path, "--from", old, "--to", new, "--no-color", *args]
    )


def test_a_changed_image_is_one_changed_line_and_exit_1(repo: StateRepo) -> None:
    old = repo.head() or ""
    new = _edit(repo, DEPLOYMENT, "sha256:4c1f", "sha256:eeee")
    result = _diff(repo, old, new)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "Project my-first-app:",
        "~ Deployment rise-my-first-app/my-first-app-20261120-091500-3f9a",
    ]
    changed = [line for line in lines if line.startswith(("+ ", "- ", "+  ", "-  "))]
    assert len(changed) == 2 and all("image: registry.rise.dev/my-first-app@" in c for c in changed)
    assert "1 project(s) changed in git, 1 with object changes" in result.stderr


def test_a_new_deployment_creates_its_deployment_and_moves_the_service(repo: StateRepo) -> None:
    old = repo.head() or ""
    text = (repo.read(DEPLOYMENT) or b"").decode()
    new = _commit(
        repo,
        {DEPLOYMENT: text.replace("20261120-091500-3f9a", "20261123-080000-0abc")},
    )
    out = _diff(repo, old, new).stdout
    assert "+ Deployment rise-my-first-app/my-first-app-20261123-080000-0abc" in out
    assert "- Deployment rise-my-first-app/my-first-app-20261120-091500-3f9a" in out
    assert "~ Service rise-my-first-app/app" in out
    assert "+    rise.dev/deployment-id: 20261123-080000-0abc" in out
    assert "1 to create, 1 to update, 1 to delete, 4 unchanged." in out


def test_no_rendered_change_exits_0(repo: StateRepo) -> None:
    old = repo.head() or ""
    new = _edit(repo, "projects/my-first-app/project.toml", 'created_by = "niklas"', "")
    result = _diff(repo, old, new)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "1 project(s) changed in git, 0 with object changes" in result.stderr
    assert _diff(repo, new, new).exit_code == 0


def test_projects_added_and_removed(repo: StateRepo) -> None:
    old = repo.head() or ""
    files: dict[str, str | None] = {
        f"projects/docs-site/{name}": None
        for name in ("project.toml", ".rise.toml", "deployment.toml")
    }
    files["projects/fresh/project.toml"] = 'owner = "user:niklas"\n'
    new = _commit(repo, files)
    result = _diff(repo, old, new)
    assert result.exit_code == 1
    assert "+ Namespace rise-fresh" in result.stdout
    assert "- Deployment rise-docs-site/docs-site-20261121-101010-beef" in result.stdout
    assert "- Namespace rise-docs-site" in result.stdout


def test_limit_to_named_projects_and_suggest_for_typos(repo: StateRepo) -> None:
    old = repo.head() or ""
    _edit(repo, DEPLOYMENT, "sha256:4c1f", "sha256:eeee")
    new = _edit(repo, "projects/docs-site/deployment.toml", '"stopped"', '"running"')
    only = _diff(repo, old, new, "docs-site")
    assert only.exit_code == 1
    assert "Project docs-site:" in only.stdout and "my-first-app" not in only.stdout
    unchanged = _diff(repo, old, new, "secret-app")
    assert unchanged.exit_code == 0
    typo = _diff(repo, old, new, "docs-sit")
    assert typo.exit_code == 2
    assert "no project 'docs-sit' in either commit — did you mean 'docs-site'?" in typo.stderr


def test_a_project_broken_by_the_change_is_an_error_exit_2(repo: StateRepo) -> None:
    old = repo.head() or ""
    new = _commit(repo, {"projects/my-first-app/env.toml": '[vars]\nPORT = "1"\n'})
    result = _diff(repo, old, new)
    assert result.exit_code == 2
    assert "Project my-first-app cannot be rendered at" in result.stderr
    assert "projects/my-first-app/env.toml: PORT is set by rise" in result.stderr


def test_a_project_fixed_by_the_change_is_compared_against_nothing(repo: StateRepo) -> None:
    broken = _commit(repo, {"projects/my-first-app/env.toml": '[vars]\nPORT = "1"\n'})
    fixed = _commit(repo, {"projects/my-first-app/env.toml": '[vars]\nLOG_LEVEL = "info"\n'})
    result = _diff(repo, broken, fixed)
    assert result.exit_code == 1
    assert "Warning: my-first-app could not be rendered at" in result.stderr
    assert "+ Deployment rise-my-first-app/" in result.stdout


def test_a_hand_pushed_folder_with_a_bad_name_is_an_error_exit_2(repo: StateRepo) -> None:
    old = repo.head() or ""
    new = _push_by_hand(repo, "Bad_Name", b'owner = "user:niklas"\n')
    result = _diff(repo, old, new)
    assert result.exit_code == 2
    assert "projects/Bad_Name: project name 'Bad_Name' must be lower-case" in result.stderr


def test_unknown_refs_are_errors_exit_2(repo: StateRepo) -> None:
    result = _diff(repo, "nope", "main")
    assert result.exit_code == 2
    assert "no commit 'nope'" in result.stderr


def test_json_output_for_machines(repo: StateRepo) -> None:
    old = repo.head() or ""
    new = _edit(repo, DEPLOYMENT, "sha256:4c1f", "sha256:eeee")
    result = _diff(repo, old, new, "-o", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["from"], data["to"], data["changed"]) == (old, new, True)
    objects = data["projects"]["my-first-app"]["objects"]
    updated = [o for o in objects if o["action"] == "update"]
    assert [(o["kind"], o["namespace"]) for o in updated] == [("Deployment", "rise-my-first-app")]
    assert updated[0]["after"]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "registry.rise.dev/my-first-app@sha256:eee"
    )


def test_secret_changes_are_shown_masked_and_never_in_clear(repo: StateRepo) -> None:
    box = golden_box()
    old = repo.head() or ""
    env = (repo.read("projects/vault/env.toml") or b"").decode()
    token = box.encrypt("vault", "DATABASE_URL", "postgres://vault:new-pass-42@db/vault")
    start = env.index('DATABASE_URL = "') + len('DATABASE_URL = "')
    env = env[:start] + token + env[env.index('"', start) :]
    new = _commit(repo, {"projects/vault/env.toml": env})
    keyed = _diff(repo, old, new, "--secrets-key", str(GOLDEN / "secrets.key"))
    assert keyed.exit_code == 1, keyed.output
    assert "~ Secret rise-vault/app-env" in keyed.stdout
    assert "-  DATABASE_URL: '******** (before)'" in keyed.stdout
    assert "+  DATABASE_URL: '******** (after)'" in keyed.stdout
    unkeyed = _diff(repo, old, new)
    assert "~ Secret rise-vault/app-env" in unkeyed.stdout
    assert "only rise.dev/spec-hash differs" in unkeyed.stdout
    for result in (keyed, unkeyed, _diff(repo, old, new, "-o", "json")):
        assert "hunter2" not in result.output and "new-pass-42" not in result.output


def test_a_wrong_secrets_key_is_reported(repo: StateRepo, tmp_path: Path) -> None:
    key = tmp_path / "other.key"
    SecretBox.from_file(key, create=True)
    old = repo.head() or ""
    new = _edit(repo, "projects/vault/env.toml", 'FEATURE_FLAGS = "a,b"', 'FEATURE_FLAGS = "c"')
    result = _diff(repo, old, new, "--secrets-key", str(key))
    assert result.exit_code == 2
    assert "cannot be decrypted with this server's key" in result.stderr


def test_the_installed_command_exits_with_the_documented_codes(repo: StateRepo) -> None:
    rise = shutil.which("rise")
    assert rise, "the package is installed editable with its console script"
    old = repo.head() or ""
    new = _edit(repo, DEPLOYMENT, "sha256:4c1f", "sha256:eeee")
    args = [rise, "diff", "--state", repo.path, "--from", old]
    changed = subprocess.run([*args, "--to", new], capture_output=True, text=True, check=False)
    same = subprocess.run([*args, "--to", old], capture_output=True, text=True, check=False)
    bad = subprocess.run([*args, "--to", "nope"], capture_output=True, text=True, check=False)
    assert (changed.returncode, same.returncode, bad.returncode) == (1, 0, 2)
    assert "\x1b[" not in changed.stdout  # not a terminal: no colour
