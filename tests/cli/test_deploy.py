"""``rise d c`` from an app folder to a running app, against real parts: a ``rise server``
subprocess (rendered runtime), Debian's ``docker-registry`` with rise's token auth,
buildah/podman building ``examples/hello``; the CLI run as a subprocess in the app folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.images import PushCredentials, resolve_digest
from reconciler.state import StateRepo
from schemas.api import DeploymentDryRun, DeploymentInfo
from tests.support.deploy_stack import DeployStack, deploy_stack

__all__ = ["deploy_stack"]  # the fixture used below

STEPS = (
    "Building container image '{registry}/{project}:latest' using {backend}...",
    "Pushing container image to {registry}...",
    "Deploying '{project}' ...",
)


@pytest.fixture(scope="module")
def hello(deploy_stack: DeployStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hello as the app of project ``hello``, deployed once by ``rise d c``."""
    admin = deploy_stack.server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "hello", "visibility": "public"}, 201)
    return deploy_stack.app(tmp_path_factory.mktemp("apps") / "hello", "hello")


def _registry_digest(stack: DeployStack, project: str, tag: str = "latest") -> str:
    creds = stack.server.admin().ok(
        "POST", f"/api/v1/projects/{project}/registry-credentials", {"actions": ["pull"]}
    )
    auth = PushCredentials.from_json(creds).auth
    found = resolve_digest(f"{creds['registry']}/{creds['repository']}:{tag}", auth)
    assert found.digest is not None
    return found.digest


def _ensure_deployed(stack: DeployStack, app: Path) -> None:
    """Tests that need an image in the registry build one, unless an earlier test did."""
    if not json.loads(stack.rise("d", "ls", "hello", "-o", "json").stdout):
        done = stack.rise("d", "c", cwd=app)
        assert done.returncode == 0, done.stderr


def test_rise_d_c_builds_pushes_deploys_and_follows_to_running(
    deploy_stack: DeployStack, hello: Path
) -> None:
    repo = StateRepo(deploy_stack.server.state_repo)
    before = repo.head()

    done = deploy_stack.rise("d", "c", cwd=hello / "www")  # .rise.toml is found upwards

    assert done.returncode == 0, done.stderr
    registry = deploy_stack.registry.host
    backend = done.stderr.split("' using ")[1].split("...")[0]
    assert backend in ("podman", "buildah")
    assert done.stderr.splitlines() == [
        line.format(registry=registry, project="hello", backend=backend) for line in STEPS
    ]
    assert (
        done.stdout == "Deployment successful! Your app is now running at https://hello.rise.dev\n"
    )

    # One commit, by the deploying user, pinning the digest the registry now serves.
    digest = _registry_digest(deploy_stack, "hello")
    (commit, *_) = list(repo.log(limit=5))
    assert commit.parents[0].id.__str__() == before
    assert commit.message.startswith("deploy hello ")
    assert f"{registry}/hello@{digest}" in commit.message
    assert commit.author.name == "admin"
    deployment = (repo.read("projects/hello/deployment.toml") or b"").decode()
    assert f'image = "{registry}/hello@{digest}"' in deployment
    stored = (repo.read("projects/hello/.rise.toml") or b"").decode()
    assert 'project = "hello"' in stored and "[deploy]" in stored

    listed = deploy_stack.rise("d", "ls", "hello", "-o", "json")
    rows = [DeploymentInfo.model_validate(row) for row in json.loads(listed.stdout)]
    assert (rows[0].status, rows[0].image) == ("running", f"{registry}/hello@{digest}")
    table = deploy_stack.rise("d", "ls", "hello").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "IMAGE", "DEPLOYED", "BY", "WHEN"]
    assert table[1].split()[:2] == [rows[0].id, "running"]
    shown = deploy_stack.rise("d", "s", "hello", rows[0].id, "-o", "json")
    assert DeploymentInfo.model_validate_json(shown.stdout).id == rows[0].id
    again = deploy_stack.rise(
        "d", "s", rows[0].id, "--follow", cwd=hello
    )  # project from .rise.toml
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Deployment successful!")


def test_dry_run_prints_the_diff_changes_nothing_and_exits_like_rise_diff(
    deploy_stack: DeployStack, hello: Path
) -> None:
    _ensure_deployed(deploy_stack, hello)
    repo = StateRepo(deploy_stack.server.state_repo)
    head = repo.head()
    images = deploy_stack.registry.data / "docker" / "registry" / "v2" / "repositories" / "hello"
    revisions = images / "_manifests" / "revisions" / "sha256"
    tags = sorted(p.name for p in revisions.iterdir())

    same = deploy_stack.rise("d", "c", "--dry-run", cwd=hello)
    assert same.returncode == 0, same.stderr
    assert "No changes (" in same.stdout

    changed = deploy_stack.rise("d", "c", "--dry-run", "-e", "GREETING=hi", cwd=hello)
    assert changed.returncode == 1, changed.stderr
    assert "~ Deployment rise-hello/" in changed.stdout
    assert "+        - name: GREETING\n+          value: hi\n" in changed.stdout
    as_diff = deploy_stack.rise("diff", "hello", "-e", "GREETING=hi", cwd=hello)
    assert (as_diff.returncode, as_diff.stdout) == (1, changed.stdout)
    machine = deploy_stack.rise("diff", "hello", "-e", "GREETING=hi", "-o", "json", cwd=hello)
    answer = DeploymentDryRun.model_validate_json(machine.stdout)
    assert answer.changed and answer.base == head

    assert repo.head() == head  # nothing committed
    assert (
        sorted(p.name for p in (images / "_manifests" / "revisions" / "sha256").iterdir()) == tags
    )
    # The local mode of rise diff still works beside it.
    local = deploy_stack.rise(
        "diff", "--state", str(repo.path), "--from", head or "", "--to", head or "", "--no-color"
    )
    assert local.returncode == 0, local.stderr


def test_env_flag_lands_in_the_deployed_config(deploy_stack: DeployStack, hello: Path) -> None:
    done = deploy_stack.rise("d", "c", "-e", "GREETING=hello there", "--no-follow", cwd=hello)
    assert done.returncode == 0, done.stderr
    assert "committed; follow it with 'rise d s hello " in done.stdout
    stored = StateRepo(deploy_stack.server.state_repo).read("projects/hello/.rise.toml")
    assert b'GREETING = "hello there"' in (stored or b"")


def test_image_with_a_tag_is_deployed_by_its_digest(
    deploy_stack: DeployStack, hello: Path, tmp_path: Path
) -> None:
    _ensure_deployed(deploy_stack, hello)
    digest = _registry_digest(deploy_stack, "hello")
    tagged = f"{deploy_stack.registry.host}/hello:latest"

    done = deploy_stack.rise("d", "c", "hello", "--image", tagged, "-o", "json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    info = DeploymentInfo.model_validate_json(done.stdout)
    assert info.image == f"{deploy_stack.registry.host}/hello@{digest}"
    assert info.status == "running"
    assert done.stderr.splitlines()[0] == f"Resolving '{tagged}' to its digest..."
    deployment = StateRepo(deploy_stack.server.state_repo).read("projects/hello/deployment.toml")
    assert b":latest" not in (deployment or b"")


def test_a_mistyped_project_suggests_the_close_match(
    deploy_stack: DeployStack, hello: Path, tmp_path: Path
) -> None:
    listed = deploy_stack.rise("d", "ls", "helo")
    assert listed.returncode == 4
    assert "did you mean 'hello'?" in listed.stderr
    image = f"{deploy_stack.registry.host}/hello:latest"
    deployed = deploy_stack.rise("d", "c", "helo", "--image", image, cwd=tmp_path)
    assert deployed.returncode == 4
    assert "did you mean 'hello'?" in deployed.stderr
    elsewhere = deploy_stack.rise("d", "c", "helo", cwd=hello)
    assert elsewhere.returncode == 2
    assert "says project = 'hello', but you asked for 'helo'" in elsewhere.stderr


def test_no_rise_toml_says_how_to_create_one(deploy_stack: DeployStack, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the walk up stops at a repository's root
    (tmp_path.parent / ".rise.toml").write_text('project = "outside"\n')
    try:
        done = deploy_stack.rise("d", "c", "web", cwd=tmp_path)
    finally:
        (tmp_path.parent / ".rise.toml").unlink()
    assert done.returncode == 2
    assert f"no .rise.toml in {tmp_path}" in done.stderr
    assert "printf 'project = \"web\"\\n' > .rise.toml" in done.stderr


def test_stop_and_rollback(deploy_stack: DeployStack, hello: Path) -> None:
    for _ in range(2):
        assert deploy_stack.rise("d", "c", "--no-follow", cwd=hello).returncode == 0
    rows = json.loads(deploy_stack.rise("d", "ls", "hello", "-o", "json").stdout)
    current, previous = rows[0]["id"], rows[1]["id"]

    stopped = deploy_stack.rise("d", "stop", "hello")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == f"Stopped 'hello' (deployment {current}).\n"

    rolled = deploy_stack.rise("d", "rollback", "hello", "-o", "json")
    assert rolled.returncode == 0, rolled.stderr
    info = DeploymentInfo.model_validate_json(rolled.stdout)
    assert (info.rollback_of, info.status) == (previous, "running")
    assert f"Rolling back 'hello' to {previous} ..." in rolled.stderr
