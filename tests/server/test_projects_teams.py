"""Projects and teams over real HTTP: the transcript, visibility and who may change what."""

from __future__ import annotations

from reconciler.state import StateRepo
from tests.server.conftest import Api, RunningServer, image


def test_the_transcript_project_and_team_interactions(server: RunningServer) -> None:
    admin, niklas = server.admin(), server.user("niklas")
    admin.ok(
        "POST", "/api/v1/teams", {"name": "devops", "owners": ["admin"], "members": ["niklas"]}, 201
    )
    niklas.ok("POST", "/api/v1/projects", {"name": "my-first-app", "visibility": "public"}, 201)

    typo = niklas.post(
        "/api/v1/projects",
        json={"name": "secret-app", "visibility": "private", "owner": "team:devopsy"},
    )
    assert typo.status_code == 403
    assert typo.json()["message"] == (
        "Team 'devopsy' does not exist or you do not have permission to create projects for "
        "it. Did you mean 'devops'?"
    )

    created = niklas.ok(
        "POST",
        "/api/v1/projects",
        {"name": "secret-app", "visibility": "private", "owner": "team:devops"},
        201,
    )
    assert (created["name"], created["visibility"], created["owner"]) == (
        "secret-app",
        "private",
        "team:devops",
    )

    rows = {row["name"]: row for row in niklas.ok("GET", "/api/v1/projects")}
    assert rows["my-first-app"] == {
        "name": "my-first-app",
        "owner": "user:niklas",
        "visibility": "public",
        "url": "https://my-first-app.rise.dev",
        "status": "stopped",
        "deployment_id": None,
        "problems": [],
    }
    assert rows["secret-app"]["url"] == "https://secret-app.rise.dev"
    assert rows["secret-app"]["status"] == "stopped"

    repo = StateRepo(server.state_repo)
    commit = repo.resolve(created["commit"])
    assert commit.author.name == "niklas"
    assert "create project secret-app" in commit.message
    assert repo.snapshot().projects["secret-app"].project.owner == "team:devops"


def test_the_suggestion_only_names_teams_the_caller_may_use(server: RunningServer) -> None:
    admin, outsider = server.admin(), server.user("outsider")
    admin.ok("POST", "/api/v1/teams", {"name": "platform", "owners": ["admin"]}, 201)
    for owner in ("team:platform", "team:platfrom"):  # exists but not theirs; a typo of it
        refused = outsider.post("/api/v1/projects", json={"name": "sneaky", "owner": owner})
        assert refused.status_code == 403
        name = owner.removeprefix("team:")
        assert refused.json()["message"] == (
            f"Team '{name}' does not exist or you do not have permission to create projects for it."
        )
    outsider.ok("POST", "/api/v1/teams", {"name": "platforms"}, 201)
    hinted = outsider.post("/api/v1/projects", json={"name": "sneaky", "owner": "team:platfrom"})
    assert hinted.json()["message"].endswith("Did you mean 'platforms'?")
    assert outsider.get("/api/v1/projects/sneaky").status_code == 404


def test_a_non_member_cannot_see_change_or_deploy_a_private_project(
    server: RunningServer,
) -> None:
    owner, stranger = server.user("owner1"), server.user("stranger1")
    owner.ok("POST", "/api/v1/projects", {"name": "vault", "visibility": "private"}, 201)
    missing = stranger.get("/api/v1/projects/no-such-project")
    attempts = [
        stranger.get("/api/v1/projects/vault"),
        stranger.patch("/api/v1/projects/vault", json={"visibility": "public"}),
        stranger.delete("/api/v1/projects/vault"),
        stranger.post("/api/v1/projects/vault/deployments", json={"image": image("vault")}),
        stranger.get("/api/v1/projects/vault/deployments"),
        stranger.post("/api/v1/projects/vault/deployments/stop"),
        stranger.put("/api/v1/projects/vault/env/KEY", json={"value": "x"}),
        stranger.get("/api/v1/projects/vault/env"),
    ]
    expected = missing.json()
    for response in attempts:
        assert response.status_code == 404, response.request.url
        body = response.json()
        assert {k: body[k] for k in ("error", "hint")} == {
            k: expected[k] for k in ("error", "hint")
        }
        assert body["message"] == "project 'vault' not found"
    assert "vault" not in [row["name"] for row in stranger.ok("GET", "/api/v1/projects")]
    assert StateRepo(server.state_repo).snapshot().projects["vault"].deployment is None


def test_a_public_project_is_readable_but_not_changeable_by_others(
    server: RunningServer,
) -> None:
    owner, reader = server.user("owner2"), server.user("reader2")
    owner.ok("POST", "/api/v1/projects", {"name": "showcase"}, 201)
    assert reader.ok("GET", "/api/v1/projects/showcase")["owner"] == "user:owner2"
    refused = reader.post("/api/v1/projects/showcase/deployments", json={"image": image("x")})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert reader.get("/api/v1/projects/showcase/env").status_code == 403


def test_team_members_may_change_a_team_project_and_admins_anything(
    server: RunningServer,
) -> None:
    lead, member, admin = server.user("lead3"), server.user("member3"), server.admin()
    lead.ok("POST", "/api/v1/teams", {"name": "squad3", "members": ["member3"]}, 201)
    lead.ok(
        "POST",
        "/api/v1/projects",
        {"name": "squad-app", "owner": "team:squad3", "visibility": "private"},
        201,
    )
    updated = member.ok("PATCH", "/api/v1/projects/squad-app", {"visibility": "public"})
    assert updated["visibility"] == "public"
    assert (
        admin.ok("PATCH", "/api/v1/projects/squad-app", {"visibility": "private"})["visibility"]
        == "private"
    )
    history = StateRepo(server.state_repo).history("projects/squad-app/project.toml")
    assert [entry.author for entry in history[:3]] == ["admin", "member3", "lead3"]


def test_members_cannot_manage_their_team_but_owners_can(server: RunningServer) -> None:
    lead, member = server.user("lead4"), server.user("member4")
    server.user("friend")
    lead.ok("POST", "/api/v1/teams", {"name": "squad4", "members": ["member4"]}, 201)
    refused = member.patch("/api/v1/teams/squad4", json={"add_members": ["friend"]})
    assert refused.status_code == 403
    assert "lead4" in refused.json()["hint"]
    team = lead.ok(
        "PATCH", "/api/v1/teams/squad4", {"add_members": ["friend"], "remove_members": ["member4"]}
    )
    assert (team["owners"], team["members"]) == (["lead4"], ["friend"])
    assert member.get("/api/v1/teams/squad4").status_code == 404
    assert "squad4" not in [t["name"] for t in member.ok("GET", "/api/v1/teams")]
    no_owner = lead.patch("/api/v1/teams/squad4", json={"owners": []})
    assert no_owner.status_code == 400
    assert "at least one owner" in no_owner.json()["message"]


def test_a_team_that_owns_projects_cannot_be_deleted(server: RunningServer) -> None:
    lead = server.user("lead5")
    lead.ok("POST", "/api/v1/teams", {"name": "squad5"}, 201)
    lead.ok("POST", "/api/v1/projects", {"name": "squad5-app", "owner": "team:squad5"}, 201)
    busy = lead.delete("/api/v1/teams/squad5")
    assert busy.status_code == 409
    assert "squad5-app" in busy.json()["message"]
    lead.ok("DELETE", "/api/v1/projects/squad5-app")
    assert lead.ok("DELETE", "/api/v1/teams/squad5")["commit"]
    snapshot = StateRepo(server.state_repo).snapshot()
    assert "squad5" not in snapshot.teams and "squad5-app" not in snapshot.projects


def test_creating_for_another_user_needs_admin_and_names_are_checked(
    server: RunningServer,
) -> None:
    alice = server.user("alice6")
    other = alice.post("/api/v1/projects", json={"name": "gift", "owner": "user:bob"})
    assert other.status_code == 403
    assert "user:alice6" in other.json()["message"]
    assert (
        server.admin().ok("POST", "/api/v1/projects", {"name": "gift", "owner": "user:bob"}, 201)[
            "owner"
        ]
        == "user:bob"
    )
    duplicate = alice.post("/api/v1/projects", json={"name": "gift"})
    assert duplicate.status_code == 409
    bad = alice.post("/api/v1/projects", json={"name": "Bad_Name", "visibilty": "public"})
    assert bad.status_code == 400
    problems = bad.json()["problems"]
    assert any("did you mean 'visibility'" in p for p in problems)
    assert any("lower-case" in p for p in problems)
    traversal = alice.get("/api/v1/projects/..%2F..%2Fetc")
    assert traversal.status_code in (400, 404)


def test_requests_without_a_valid_token_are_refused(server: RunningServer) -> None:
    anonymous = server.anonymous()
    response = anonymous.get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "rise login" in response.json()["hint"]
    forged = anonymous.get("/api/v1/projects", headers={"Authorization": "Bearer not.a.jwt"})
    assert forged.status_code == 401


def test_forward_auth_lets_only_members_reach_a_private_app(server: RunningServer) -> None:
    owner, stranger = server.user("owner7"), server.user("stranger7")
    owner.ok("POST", "/api/v1/projects", {"name": "intranet", "visibility": "private"}, 201)
    owner.ok("POST", "/api/v1/projects", {"name": "homepage"}, 201)

    def check(api: Api, project: str) -> int:
        return api.get("/auth/ingress", params={"project": project}).status_code

    assert check(owner, "intranet") == 200
    assert check(stranger, "intranet") == 403
    assert check(stranger, "no-such-app") == 403  # the same as a private one
    assert check(server.anonymous(), "intranet") == 401
    assert check(server.anonymous(), "homepage") == 200
    assert check(server.anonymous(), "../x") == 400
