"""Deployments over real HTTP: commits, history, stop, rollback, and 50 concurrent deploys."""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.state import StateRepo
from tests.server.conftest import Api, RunningServer, image


@pytest.fixture(scope="module")
def dev(server: RunningServer) -> Api:
    return server.user("dev")


def _project(api: Api, name: str) -> None:
    api.ok("POST", "/api/v1/projects", {"name": name}, 201)


def test_a_deployment_is_a_commit_authored_by_the_caller(server: RunningServer, dev: Api) -> None:
    _project(dev, "web")
    created = dev.ok(
        "POST",
        "/api/v1/projects/web/deployments",
        {
            "image": image("web", 1),
            "replicas": 2,
            "app_config": {"project": "web", "deploy": {"port": 3000}},
        },
        201,
    )
    assert created["image"] == image("web", 1)
    assert created["state"] == "running"
    assert created["created_by"] == "user:dev"
    repo = StateRepo(server.state_repo)
    commit = repo.resolve(created["commit"])
    assert commit.author.name == "dev"
    assert commit.message.startswith(f"deploy web {created['id']} (registry.rise.dev/web@sha256:")
    state = repo.snapshot().projects["web"]
    assert state.valid
    assert (state.deployment.id, state.deployment.replicas) == (created["id"], 2)
    assert state.app.deploy.port == 3000
    assert tomllib.loads(repo.read("projects/web/.rise.toml").decode()) == {
        "project": "web",
        "deploy": {"port": 3000},
    }


def test_a_mutable_tag_is_refused_with_a_way_forward(server: RunningServer, dev: Api) -> None:
    _project(dev, "tagged")
    head = StateRepo(server.state_repo).head()
    refused = dev.post(
        "/api/v1/projects/tagged/deployments", json={"image": "registry.rise.dev/tagged:latest"}
    )
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "not pinned by digest" in message and "push it first" in message
    assert StateRepo(server.state_repo).head() == head


def test_invalid_app_config_is_refused_naming_the_key(server: RunningServer, dev: Api) -> None:
    _project(dev, "strict")
    refused = dev.post(
        "/api/v1/projects/strict/deployments",
        json={"image": image("strict"), "app_config": {"deploy": {"replica": 2}}},
    )
    assert refused.status_code == 400
    assert "did you mean 'replicas'" in refused.json()["message"]
    wrong_env = dev.post(
        "/api/v1/projects/strict/deployments",
        json={
            "image": image("strict"),
            "environment": "stagin",
            "app_config": {"environments": {"staging": {"env": {"A": "1"}}}},
        },
    )
    assert wrong_env.status_code == 400
    assert "did you mean 'staging'" in wrong_env.json()["message"]
    too_many = dev.post(
        "/api/v1/projects/strict/deployments", json={"image": image("strict"), "replicas": 11}
    )
    assert too_many.status_code == 400
    assert "above this project's max_replicas = 10" in too_many.json()["message"]
    assert StateRepo(server.state_repo).snapshot().projects["strict"].deployment is None


def test_history_stop_show_and_rollback(server: RunningServer, dev: Api) -> None:
    _project(dev, "api")
    first = dev.ok(
        "POST",
        "/api/v1/projects/api/deployments",
        {"image": image("api", 1), "app_config": {"deploy": {"port": 9000}}},
        201,
    )
    second = dev.ok(
        "POST",
        "/api/v1/projects/api/deployments",
        {"image": image("api", 2), "app_config": {"deploy": {"port": 9001}}},
        201,
    )
    stopped = dev.ok("POST", "/api/v1/projects/api/deployments/stop")
    assert (stopped["id"], stopped["state"], stopped["status"]) == (
        second["id"],
        "stopped",
        "stopped",
    )
    assert dev.ok("POST", "/api/v1/projects/api/deployments/stop")["commit"] is None

    history = dev.ok("GET", "/api/v1/projects/api/deployments")
    assert [(d["id"], d["state"]) for d in history] == [
        (second["id"], "stopped"),
        (first["id"], "running"),
    ]
    assert history[0]["status"] == "stopped"
    # The first is stopped when the loop saw it replaced; it could not have seen it at all.
    replaced = ("stopped", f"replaced by {second['id']}")
    assert (history[1]["status"], history[1]["reason"]) in (replaced, ("superseded", None))
    assert history[0]["commit"] == second["commit"]
    assert dev.ok("GET", f"/api/v1/projects/api/deployments/{first['id']}")["image"] == image(
        "api", 1
    )

    rolled = dev.ok("POST", f"/api/v1/projects/api/deployments/{first['id']}/rollback", status=201)
    assert rolled["rollback_of"] == first["id"]
    assert rolled["image"] == image("api", 1)
    assert rolled["id"] not in (first["id"], second["id"])
    repo = StateRepo(server.state_repo)
    state = repo.snapshot().projects["api"]
    assert (state.deployment.id, state.deployment.state) == (rolled["id"], "running")
    assert state.app.deploy.port == 9000  # the .rise.toml of the restored deployment
    assert repo.resolve(rolled["commit"]).message.startswith(
        f"rollback api to {first['id']} as {rolled['id']}"
    )
    again = dev.ok("POST", "/api/v1/projects/api/deployments", {"from": second["id"]}, 201)
    assert again["image"] == image("api", 2)


def test_unknown_deployments_and_bodies_get_precise_errors(dev: Api) -> None:
    _project(dev, "errs")
    missing = dev.get("/api/v1/projects/errs/deployments/20260101-000000-abcd")
    assert missing.status_code == 404
    assert "rise deployment list" in missing.json()["hint"]
    assert dev.get("/api/v1/projects/errs/deployments/latest").status_code == 400
    assert dev.post("/api/v1/projects/errs/deployments/stop").status_code == 409
    neither = dev.post("/api/v1/projects/errs/deployments", json={})
    assert neither.status_code == 400 and "either 'image'" in neither.json()["message"]
    broken = dev.http.post(
        "/api/v1/projects/errs/deployments", content=b"{not json", headers={"content-type": "x"}
    )
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    huge = dev.http.post("/api/v1/projects/errs/deployments", content=b"x" * (2 << 20))
    assert huge.status_code == 413


def test_a_project_that_requires_review_is_not_deployed_directly(
    server: RunningServer, dev: Api
) -> None:
    _project(dev, "careful")
    server.admin().ok("PATCH", "/api/v1/projects/careful", {"settings": {"review": "required"}})
    refused = dev.post("/api/v1/projects/careful/deployments", json={"image": image("careful")})
    assert refused.status_code == 409
    assert refused.json()["error"] == "review_required"


def test_fifty_concurrent_deployments_across_five_projects(server: RunningServer) -> None:
    owners = {f"racer-{n}": server.user(f"racer{n}") for n in range(5)}
    for project, api in owners.items():
        _project(api, project)
    repo = StateRepo(server.state_repo)
    before = repo.head()

    def deploy(n: int) -> tuple[str, dict[str, object]]:
        project = f"racer-{n % 5}"
        response = owners[project].post(
            f"/api/v1/projects/{project}/deployments", json={"image": image(project, n)}
        )
        assert response.status_code == 201, response.text
        return project, response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(deploy, range(50)))

    ids = [body["id"] for _, body in results]
    assert len(set(ids)) == 50
    new_commits = []
    for commit in repo.log():
        if str(commit.id) == before:
            break
        new_commits.append(commit)
    assert len(new_commits) == 50
    assert all(len(c.parents) == 1 for c in new_commits)
    by_commit = {str(c.id): c for c in new_commits}
    for project, body in results:
        commit = by_commit[str(body["commit"])]
        assert commit.author.name == f"racer{project[-1]}"
        assert body["id"] in commit.message
    for project in owners:
        history = repo.history(f"projects/{project}/deployment.toml")
        assert len(history) == 10
        listed = server.users[f"racer{project[-1]}"].ok(
            "GET", f"/api/v1/projects/{project}/deployments"
        )
        assert sorted(d["id"] for d in listed) == sorted(
            body["id"] for p, body in results if p == project
        )
