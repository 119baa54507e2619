"""The state repo over git smart HTTP, served by `rise server`: the real `git` CLI clones it
with a rise token, pushes a digest bump that the reconcile follows, and an invalid push is
refused by the pre-receive check with `rise state validate`'s messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.state import StateRepo
from tests.reviews.conftest import new_project, rendered_deployment
from tests.server.conftest import Api, RunningServer, image
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"GIT_TERMINAL_PROMPT": "0", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    command = ["git", "-c", "user.name=Pat Pusher", "-c", "user.email=pat@example.com", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _bump(work: Path, n: int) -> None:
    """Point the deployment at build ``n``, as CI bumping a digest does."""
    path = work / "projects/pushed/deployment.toml"
    text = re.sub(r'(?m)^image = ".*"$', f'image = "{image("pushed", n)}"', path.read_text())
    path.write_text(text)


def _clone(server: RunningServer, api: Api, into: Path) -> Path:
    url = server.url.replace("http://", f"http://{api.username}:{api.token}@")
    _git(into.parent, "clone", f"{url}/git/state.git", into.name)
    return into


@pytest.fixture(scope="module")
def deployed(server: RunningServer) -> Api:
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "pushed"}, 201)
    admin.ok("POST", "/api/v1/projects/pushed/deployments", {"image": image("pushed", 1)}, 201)
    return admin


def test_a_pushed_digest_bump_is_reconciled_and_its_author_deploys(
    server: RunningServer, deployed: Api, tmp_path: Path
) -> None:
    work = _clone(server, deployed, tmp_path / "work")
    _bump(work, 2)
    _git(work, "commit", "-qam", "bump pushed to build 2")
    _git(work, "push", "-q", "origin", "HEAD:main")

    repo = StateRepo(server.state_repo)
    assert image("pushed", 2).encode() in (repo.read("projects/pushed/deployment.toml") or b"")
    deployment_id = deployed.ok("GET", "/api/v1/projects/pushed/deployments")[0]["id"]

    def reconciled() -> bool:
        manifest = rendered_deployment(repo, "pushed", deployment_id)
        return image("pushed", 2).encode() in (manifest or b"")

    eventually(reconciled, timeout=20)
    row = deployed.ok("GET", "/api/v1/projects/pushed/deployments")[0]
    assert (row["image"], row["created_by"]) == (image("pushed", 2), "git:Pat Pusher")


def test_an_invalid_push_is_refused_with_validates_messages(
    server: RunningServer, deployed: Api, tmp_path: Path
) -> None:
    work = _clone(server, deployed, tmp_path / "work")
    path = work / "projects/pushed/deployment.toml"
    path.write_text(path.read_text() + 'replicas = "lots"\n')
    _git(work, "commit", "-qam", "break it")
    head = StateRepo(server.state_repo).head()

    pushed = _git(work, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    validate = subprocess.run(
        [sys.executable, "-m", "cli.main", "state", "validate", str(work), "--ref", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 1
    problems = validate.stdout.splitlines()
    assert problems and all("projects/pushed/deployment.toml" in p for p in problems)
    for line in problems:
        assert f"remote: {line}" in pushed.stderr
    assert "pre-receive hook declined" in pushed.stderr
    assert StateRepo(server.state_repo).head() == head


def test_pushes_need_a_token_and_the_right_to_change_what_they_touch(
    server: RunningServer, deployed: Api, tmp_path: Path
) -> None:
    anonymous = _git(tmp_path, "clone", f"{server.url}/git/state.git", "anon", check=False)
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    forged = server.url.replace("http://", "http://admin:a.forged.token@")
    refused = _git(tmp_path, "clone", f"{forged}/git/state.git", "forged", check=False)
    assert refused.returncode != 0 and "Authentication failed" in refused.stderr

    mallory = server.user("mallory")
    work = _clone(server, mallory, tmp_path / "work")  # every project is public: readable
    _bump(work, 9)
    _git(work, "commit", "-qam", "not mine")
    pushed = _git(work, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "projects/pushed: mallory may not change this project" in pushed.stderr
    admins = _clone(server, deployed, tmp_path / "admins")  # even an admin cannot rewind main
    rewind = _git(admins, "push", "--force", "origin", "origin/main~1:main", check=False)
    assert rewind.returncode != 0 and "non-fast-forward" in rewind.stderr


def test_a_project_that_requires_review_takes_no_direct_push(
    server: RunningServer, deployed: Api, tmp_path: Path
) -> None:
    deployed.ok("PATCH", "/api/v1/projects/pushed", {"settings": {"review": "required"}})
    work = _clone(server, deployed, tmp_path / "work")
    _bump(work, 3)
    _git(work, "commit", "-qam", "deploy without review")
    pushed = _git(work, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "requires a review for every deployment; push to review/pushed/" in pushed.stderr


def test_a_review_pushed_over_git_is_approved_through_rise(
    server: RunningServer, team: dict[str, Api], tmp_path: Path
) -> None:
    alice, bob = team["alice"], team["bob"]
    new_project(team, "gitrev")
    work = _clone(server, alice, tmp_path / "work")
    folder = work / "projects/gitrev"
    (folder / "deployment.toml").write_text(
        'id = "20261202-160000-abcd"\n'
        f'image = "{image("gitrev", 1)}"\n'
        'created_by = "user:alice"\ncreated_at = 2026-12-02T16:00:00Z\n'
    )
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "deploy gitrev by hand")
    branch = "review/gitrev/20261202-160000-abcd"
    posing = _git(work, "push", "origin", f"HEAD:{branch}", check=False)
    assert posing.returncode != 0
    assert "authored by 'Pat Pusher', but you push as 'alice'" in posing.stderr
    badly_named = _git(work, "push", "origin", "HEAD:review/gitrev/soon", check=False)
    assert badly_named.returncode != 0 and "review/<project>/<deployment id>" in badly_named.stderr

    _git(work, "commit", "-q", "--amend", "--no-edit", "--author", "alice <alice@example.com>")
    pushed = _git(work, "push", "origin", f"HEAD:{branch}", check=False)
    assert pushed.returncode == 0, pushed.stderr
    listed = bob.ok("GET", "/api/v1/projects/gitrev/reviews")
    assert [(r["id"], r["author"]) for r in listed] == [("20261202-160000-abcd", "alice")]
    refused = alice.post("/api/v1/reviews/gitrev/20261202-160000-abcd/approve")
    assert refused.status_code == 403
    merged = bob.ok("POST", "/api/v1/reviews/gitrev/20261202-160000-abcd/approve")
    assert merged["state"] == "merged"
