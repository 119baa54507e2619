"""The rendered runtime: hydrated manifests on a branch of the state repo, for Argo CD / Flux."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.desired import Renderer
from reconciler.loop import Reconciler
from reconciler.render import RenderSettings, render_project
from reconciler.runtimes.base import ObjectRef
from reconciler.runtimes.rendered import RenderedRuntime, file_name
from reconciler.secrets import SecretBox
from reconciler.state import StateRepo
from tests.reconciler.runtimes.helpers import commit, deployment_id, project_files, remove_project

SETTINGS = RenderSettings()


@pytest.fixture
def repo(tmp_path: Path) -> StateRepo:
    return StateRepo.init(tmp_path / "state.git")


def _reconciler(repo: StateRepo, settings: RenderSettings = SETTINGS) -> Reconciler:
    runtime = RenderedRuntime(repo)
    return Reconciler(repo, runtime, Renderer(settings, None, decrypt=runtime.needs_secrets))


def _files(repo: StateRepo, project: str) -> dict[str, dict]:
    """The manifests of ``project`` on the rendered branch, parsed."""
    names = {
        "Namespace": f"rise-{project}",
        "ServiceAccount": "app",
        "Service": "app",
        "Ingress": "app",
        "NetworkPolicy": "app",
    }
    out = {}
    for kind, name in names.items():
        data = repo.read(_path(project, kind, name), "rendered")
        if data is not None:
            out[kind.lower()] = yaml.safe_load(data)
    return out


def _path(project: str, kind: str, name: str) -> str:
    return f"projects/{project}/{file_name(ObjectRef(kind, '', name))}"


def test_the_first_pass_writes_each_project_to_its_own_folder(repo: StateRepo) -> None:
    commit(repo, {**project_files("web"), **project_files("api", deploy=2)})
    main_before = repo.head()
    report = _reconciler(repo).run_pass()
    assert report.applied == 12 and not report.failed
    assert repo.head() == main_before  # main is never written
    assert repo.changed_projects(None, "rendered") == {"web", "api"}
    assert repo.read("README.md", "rendered") is not None
    assert repo.read("projects/web/project.toml", "rendered") is None  # no state files there
    assert repo.read("rise-state.toml", "rendered") is None
    state = repo.snapshot().projects["web"]
    for obj in render_project(state, SETTINGS, None):
        path = _path("web", obj["kind"], obj["metadata"]["name"])
        assert yaml.safe_load(repo.read(path, "rendered") or b"") == obj, path


def test_one_commit_per_pass_that_changed_something(repo: StateRepo) -> None:
    commit(repo, {**project_files("web"), **project_files("api")})
    reconciler = _reconciler(repo)
    reconciler.run_pass()
    first = repo.head("rendered")
    assert reconciler.run_pass(full=True).unchanged == 12
    assert repo.head("rendered") == first  # nothing changed: no commit

    commit(repo, project_files("web", deploy=2))
    report = reconciler.run_pass()
    assert (report.applied, report.unchanged, report.pruned) == (2, 4, 1)
    assert repo.changed_projects(first, "rendered") == {"web"}
    log = list(repo.log("rendered", limit=2))
    assert str(log[1].id) == first and log[0].message.startswith("render 1 project")
    old = _path("web", "Deployment", f"web-{deployment_id(1)}")
    new = _path("web", "Deployment", f"web-{deployment_id(2)}")
    assert repo.read(old, "rendered") is None and repo.read(new, "rendered") is not None
    assert _files(repo, "web")["service"]["spec"]["selector"]["rise.dev/deployment-id"] == (
        deployment_id(2)
    )


def test_a_removed_project_loses_its_folder(repo: StateRepo) -> None:
    commit(repo, {**project_files("web"), **project_files("api")})
    reconciler = _reconciler(repo)
    reconciler.run_pass()
    remove_project(repo, "web")
    report = reconciler.run_pass()
    assert report.pruned == 6
    assert repo.changed_projects(None, "rendered") == {"api"}
    assert reconciler.status("web") is None


def test_a_restarted_reconciler_reads_the_branch_and_commits_nothing_new(repo: StateRepo) -> None:
    commit(repo, project_files("web"))
    _reconciler(repo).run_pass()
    head = repo.head("rendered")
    report = _reconciler(repo).run_pass()
    assert (report.applied, report.unchanged) == (0, 6)
    assert repo.head("rendered") == head


def test_secrets_never_reach_the_branch(repo: StateRepo, tmp_path: Path) -> None:
    box = SecretBox(SecretBox.generate_key())
    files = project_files("web")
    files["projects/web/env.toml"] = (
        f'[secrets]\nAPI_TOKEN = "{box.encrypt("web", "API_TOKEN", "hunter2")}"\n'
    )
    commit(repo, files)
    runtime = RenderedRuntime(repo)
    reconciler = Reconciler(repo, runtime, Renderer(SETTINGS, box, decrypt=runtime.needs_secrets))
    assert reconciler.run_pass().failed == {}
    assert repo.read(_path("web", "Secret", "app-env"), "rendered") is None
    deployment = repo.read(_path("web", "Deployment", f"web-{deployment_id(1)}"), "rendered")
    assert deployment is not None and b"hunter2" not in deployment
    assert b"secretKeyRef" in deployment  # the app still expects the Secret in the cluster


def test_status_says_where_the_manifests_went(repo: StateRepo) -> None:
    commit(repo, {**project_files("web"), **project_files("idle", deploy=None)})
    reconciler = _reconciler(repo)
    reconciler.run_pass()
    status = reconciler.status("web")
    assert status is not None and status.state == "running"
    assert status.deployment_id == deployment_id(1)
    assert "branch 'rendered'" in (status.reason or "")
    assert reconciler.status("idle").state == "stopped"  # type: ignore[union-attr]


def test_the_rendered_branch_cannot_be_the_state_branch(repo: StateRepo) -> None:
    with pytest.raises(ValueError, match="must not be the state branch"):
        RenderedRuntime(repo, branch="main")
