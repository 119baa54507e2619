"""Authorization and data isolation (issue 14, items 1-7), each test the attack it prevents,
over HTTP against a started server."""

from __future__ import annotations

from typing import Any

from reconciler.state import StateRepo
from tests.server.conftest import USER_PASSWORD, RunningServer, image


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


def test_a_namesake_project_does_not_inherit_the_deleted_ones_history(
    server: RunningServer,
) -> None:
    alice, mallory = server.user("alice1"), server.user("mallory1")
    alice.ok("POST", "/api/v1/projects", {"name": "reused"}, 201)
    old = alice.ok(
        "POST",
        "/api/v1/projects/reused/deployments",
        {"image": image("reused"), "app_config": {"env": {"DB_PASSWORD": "alice-secret"}}},
        201,
    )
    alice.ok("DELETE", "/api/v1/projects/reused")

    mallory.ok("POST", "/api/v1/projects", {"name": "reused"}, 201)
    assert mallory.ok("GET", "/api/v1/projects/reused/deployments") == []
    assert mallory.get(f"/api/v1/projects/reused/deployments/{old['id']}").status_code == 404
    rollback = mallory.post(f"/api/v1/projects/reused/deployments/{old['id']}/rollback")
    assert rollback.status_code == 404
    via_from = mallory.post("/api/v1/projects/reused/deployments", json={"from": old["id"]})
    assert via_from.status_code == 404
    repo = StateRepo(server.state_repo)
    assert repo.read("projects/reused/.rise.toml") is None  # alice's env never came back


def test_team_members_cannot_lift_the_policy_that_limits_them(server: RunningServer) -> None:
    admin, lead, dev = server.admin(), server.user("lead2"), server.user("dev2")
    lead.ok("POST", "/api/v1/teams", {"name": "guarded", "members": ["dev2"]}, 201)
    refused_create = dev.post(
        "/api/v1/projects",
        json={"name": "self-reviewed", "owner": "team:guarded", "settings": {"max_replicas": 99}},
    )
    assert refused_create.status_code == 403
    assert refused_create.json()["error"] == "policy_admins_only"

    dev.ok("POST", "/api/v1/projects", {"name": "policed", "owner": "team:guarded"}, 201)
    admin.ok("PATCH", "/api/v1/projects/policed", {"settings": {"review": "required"}})
    for settings in ({"review": "optional"}, {"max_replicas": 50}, {"max_cpu": "64"}):
        for who in (dev, lead):
            refused = who.patch("/api/v1/projects/policed", json={"settings": settings})
            assert refused.status_code == 403, (who.username, settings)
            assert "only admins" in refused.json()["message"]
    # A PATCH changes only what it names: capping replicas keeps review required.
    after = admin.ok("PATCH", "/api/v1/projects/policed", {"settings": {"max_replicas": 3}})
    assert after["settings"]["review"] == "required"
    assert after["settings"]["max_replicas"] == 3
    deploy = dev.post("/api/v1/projects/policed/deployments", json={"image": image("policed")})
    assert deploy.status_code == 409 and deploy.json()["error"] == "review_required"
    # Visibility is still the team's to change; naming unchanged settings is no change.
    dev.ok("PATCH", "/api/v1/projects/policed", {"settings": {"review": "required"}})


def test_a_team_member_cannot_take_a_team_project_for_themselves(server: RunningServer) -> None:
    boss, worker = server.user("boss3"), server.user("worker3")
    boss.ok("POST", "/api/v1/teams", {"name": "crew3", "members": ["worker3"]}, 201)
    worker.ok("POST", "/api/v1/teams", {"name": "mine3"}, 201)
    worker.ok("POST", "/api/v1/projects", {"name": "crew-app", "owner": "team:crew3"}, 201)
    for target in ("user:worker3", "team:mine3"):
        refused = worker.patch("/api/v1/projects/crew-app", json={"owner": target})
        assert refused.status_code == 403, target
        assert "owner rights on both sides" in refused.json()["message"]
    assert boss.ok("GET", "/api/v1/projects/crew-app")["owner"] == "team:crew3"
    # The owners of the team may move it to a team they own too, and only there.
    boss.ok("POST", "/api/v1/teams", {"name": "boss3-own"}, 201)
    assert boss.patch("/api/v1/projects/crew-app", json={"owner": "team:mine3"}).status_code == 403
    moved = boss.ok("PATCH", "/api/v1/projects/crew-app", {"owner": "team:boss3-own"})
    assert moved["owner"] == "team:boss3-own"


def test_creating_a_taken_private_name_with_a_refused_owner_tells_nothing(
    server: RunningServer,
) -> None:
    owner, prober = server.user("owner4"), server.user("prober4")
    owner.ok("POST", "/api/v1/teams", {"name": "vault4"}, 201)
    owner.ok("POST", "/api/v1/projects", {"name": "hidden4", "visibility": "private"}, 201)
    taken = prober.post("/api/v1/projects", json={"name": "hidden4", "owner": "team:vault4"})
    free = prober.post("/api/v1/projects", json={"name": "free4", "owner": "team:vault4"})
    assert taken.status_code == free.status_code == 403
    assert _without_id(taken.json()) == _without_id(free.json())
    no_team = prober.post("/api/v1/projects", json={"name": "hidden4", "owner": "team:nope4"})
    assert no_team.json()["message"].replace("nope4", "vault4") == taken.json()["message"]
    other_user = prober.post("/api/v1/projects", json={"name": "hidden4", "owner": "user:owner4"})
    assert other_user.status_code == 403 and other_user.json()["error"] == "owner_refused"


def test_rise_toml_env_values_need_the_right_to_change_like_env_toml(
    server: RunningServer,
) -> None:
    author, reader = server.user("author5"), server.user("reader5")
    author.ok("POST", "/api/v1/projects", {"name": "open5"}, 201)
    app = {
        "env": {"API_KEY": "k-123"},
        "environments": {"staging": {"env": {"API_KEY": "k-staging"}}},
    }
    author.ok(
        "POST",
        "/api/v1/projects/open5/deployments",
        {"image": image("open5"), "app_config": app},
        201,
    )
    seen = reader.ok("GET", "/api/v1/projects/open5")["app_config"]
    assert seen["env"] == {"API_KEY": "********"}
    assert seen["environments"]["staging"]["env"] == {"API_KEY": "********"}
    assert reader.get("/api/v1/projects/open5/env").status_code == 403
    assert author.ok("GET", "/api/v1/projects/open5")["app_config"]["env"] == {"API_KEY": "k-123"}


def test_team_owners_and_members_must_be_users(server: RunningServer) -> None:
    lead = server.user("lead6")
    server.user("helper6")
    ghost = lead.post("/api/v1/teams", json={"name": "team6", "members": ["helpr6"]})
    assert ghost.status_code == 400
    assert ghost.json()["error"] == "unknown_user"
    assert lead.get("/api/v1/teams/team6").status_code == 404  # nothing was created
    lead.ok("POST", "/api/v1/teams", {"name": "team6", "members": ["helper6"]}, 201)
    for change in ({"add_owners": ["future-hire"]}, {"members": ["helper6", "typo6"]}):
        refused = lead.patch("/api/v1/teams/team6", json=change)
        assert refused.status_code == 400, change
    hinted = lead.patch("/api/v1/teams/team6", json={"add_members": ["helper7"]})
    assert hinted.json()["message"].endswith("did you mean 'helper6'?")
    assert lead.ok("GET", "/api/v1/teams/team6")["members"] == ["helper6"]


def test_a_stolen_access_token_dies_with_a_password_change_or_removal(
    server: RunningServer,
) -> None:
    admin = server.admin()
    victim = server.user("victim7")
    stolen = server.login("victim7", USER_PASSWORD)
    victim.ok(
        "PUT",
        "/api/v1/users/me/password",
        {"current_password": USER_PASSWORD, "new_password": "changed-password-7"},
    )
    assert stolen.get("/api/v1/me").status_code == 401
    assert "password changed" in stolen.get("/api/v1/me").json()["message"]

    fresh = server.login("victim7", "changed-password-7")
    assert fresh.get("/api/v1/me").status_code == 200
    admin.ok("DELETE", "/api/v1/users/victim7")
    gone = fresh.get("/api/v1/me")
    assert gone.status_code == 401 and "no longer exists" in gone.json()["message"]
    assert admin.delete("/api/v1/users/victim7").status_code == 404
