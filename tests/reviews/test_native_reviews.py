"""Native reviews against a running server: a deploy waits on review/<project>/<id> until a
teammate approves it; the approval merges with compare-and-swap and the reconcile follows."""

from __future__ import annotations

from reconciler.state import StateRepo
from reconciler.state.reviews import parse_trailers
from tests.reviews.conftest import new_project, open_review, rendered_deployment
from tests.server.conftest import Api, RunningServer, image
from tests.support.waiting import eventually


def _main_deployment(server: RunningServer, project: str) -> bytes | None:
    return StateRepo(server.state_repo).read(f"projects/{project}/deployment.toml")


def test_a_direct_deploy_is_refused_with_the_way_forward(
    server: RunningServer, team: dict[str, Api]
) -> None:
    new_project(team, "shop")
    head = StateRepo(server.state_repo).head()
    refused = team["alice"].post("/api/v1/projects/shop/deployments", json={"image": image("shop")})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "review_required"
    assert "--review" in body["hint"] and "rise review approve" in body["hint"]
    assert StateRepo(server.state_repo).head() == head


def test_review_branch_approval_merge_and_reconcile(
    server: RunningServer, team: dict[str, Api]
) -> None:
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    new_project(team, "cart")
    alice.ok("PUT", "/api/v1/projects/cart/env/API_KEY", {"value": "s3cr3t-value", "secret": True})
    created = open_review(alice, "cart", image("cart", 1))
    review = f"/api/v1/reviews/cart/{created['id']}"
    repo = StateRepo(server.state_repo)
    assert repo.branches("review/cart/") == [f"review/cart/{created['id']}"]
    assert _main_deployment(server, "cart") is None  # nothing on main yet

    rows = alice.ok("GET", "/api/v1/reviews")
    row = next(r for r in rows if r["id"] == created["id"])
    assert (row["state"], row["author"], row["image"]) == ("open", "alice", image("cart", 1))
    assert [r["id"] for r in alice.ok("GET", "/api/v1/projects/cart/reviews")] == [created["id"]]

    shown = bob.ok("GET", review)
    assert shown["changed"] and shown["compared_with"] == "main"
    assert "+ Deployment rise-cart/cart-" in shown["diff"]
    assert "+ Secret rise-cart/" in shown["diff"]
    assert "s3cr3t-value" not in str(shown) and "********" in shown["diff"]

    refused = alice.post(f"{review}/approve")
    assert refused.status_code == 403 and refused.json()["error"] == "self_approval"
    outsider = carol.post(f"{review}/approve")
    assert outsider.status_code == 403 and outsider.json()["error"] == "forbidden"
    assert _main_deployment(server, "cart") is None

    merged = bob.ok("POST", f"{review}/approve")
    assert merged["state"] == "merged" and merged["approvals"] == ["bob"]
    commit = repo.resolve(merged["commit"])
    assert commit.author.name == "alice" and len(commit.parents) == 2
    assert ("Approved-by", "bob") in parse_trailers(commit.message)
    assert repo.branches("review/cart/") == []
    assert created["id"].encode() in (_main_deployment(server, "cart") or b"")

    history = alice.ok("GET", "/api/v1/projects/cart/deployments")
    assert history[0]["id"] == created["id"]
    assert (history[0]["created_by"], history[0]["approved_by"]) == ("user:alice", ["bob"])

    manifest = eventually(lambda: rendered_deployment(repo, "cart", created["id"]), timeout=20)
    assert image("cart", 1).encode() in manifest


def test_a_stale_review_is_refused_not_merged_over_a_newer_deploy(
    server: RunningServer, team: dict[str, Api]
) -> None:
    alice, bob = team["alice"], team["bob"]
    new_project(team, "stock")
    older = open_review(alice, "stock", image("stock", 1))
    newer = open_review(alice, "stock", image("stock", 2))
    bob.ok("POST", f"/api/v1/reviews/stock/{newer['id']}/approve")
    listed = alice.ok("GET", "/api/v1/projects/stock/reviews")
    assert [(r["id"], r["state"]) for r in listed] == [(older["id"], "stale")]
    refused = bob.post(f"/api/v1/reviews/stock/{older['id']}/approve")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "review_stale"
    assert "newer deployment" in refused.json()["message"]
    assert "--review" in refused.json()["hint"]
    assert newer["id"].encode() in (_main_deployment(server, "stock") or b"")


def test_a_rejected_review_never_reaches_main(server: RunningServer, team: dict[str, Api]) -> None:
    alice, bob, dave = team["alice"], team["bob"], team["dave"]
    new_project(team, "ledger")
    created = open_review(alice, "ledger", image("ledger", 1))
    item = f"/api/v1/reviews/ledger/{created['id']}"
    empty = bob.post(f"{item}/reject", json={})
    assert empty.status_code == 400
    rejected = bob.ok("POST", f"{item}/reject", {"reason": "debug build,\nnot for prod"})
    assert (rejected["state"], rejected["rejected_by"]) == ("rejected", "bob")
    assert rejected["reason"] == "debug build, not for prod"
    closed = dave.post(f"{item}/approve")
    assert closed.status_code == 409 and closed.json()["error"] == "review_closed"
    assert _main_deployment(server, "ledger") is None
    assert alice.ok("GET", "/api/v1/projects/ledger/reviews") == []
    listed = alice.ok("GET", "/api/v1/projects/ledger/reviews?state=rejected")
    assert [r["id"] for r in listed] == [created["id"]]
    tip = StateRepo(server.state_repo).resolve(created_branch(created))
    assert ("Rejected-by", "bob") in parse_trailers(tip.message)


def test_a_project_may_require_two_approvals(server: RunningServer, team: dict[str, Api]) -> None:
    alice, bob, dave = team["alice"], team["bob"], team["dave"]
    new_project(team, "vault", approvals=2)
    created = open_review(alice, "vault", image("vault", 1))
    item = f"/api/v1/reviews/vault/{created['id']}"
    first = bob.ok("POST", f"{item}/approve")
    assert (first["state"], first["approvals"], first["approvals_required"]) == (
        "open",
        ["bob"],
        2,
    )
    assert _main_deployment(server, "vault") is None
    second = dave.ok("POST", f"{item}/approve")
    assert second["state"] == "merged" and second["approvals"] == ["bob", "dave"]
    history = alice.ok("GET", "/api/v1/projects/vault/deployments")
    assert history[0]["approved_by"] == ["bob", "dave"]


def test_unknown_reviews_and_bad_ids_get_precise_errors(
    server: RunningServer, team: dict[str, Api]
) -> None:
    bob = team["bob"]
    missing = bob.get("/api/v1/reviews/shop/20260101-000000-abcd")
    assert missing.status_code == 404 and "rise review ls" in missing.json()["hint"]
    bad = bob.get("/api/v1/reviews/shop/not-an-id")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_review_id"
    state = bob.get("/api/v1/reviews?state=opne")
    assert state.status_code == 400 and "opne" in state.json()["message"]


def created_branch(created: dict[str, object]) -> str:
    return f"review/{created['project']}/{created['id']}"


def test_approvals_at_the_same_moment_merge_once(
    server: RunningServer, team: dict[str, Api]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    alice = team["alice"]
    approvers = [team["bob"], team["dave"], server.admin()]
    new_project(team, "race", approvals=2)
    created = open_review(alice, "race", image("race", 1))
    item = f"/api/v1/reviews/race/{created['id']}/approve"
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda api: api.post(item), approvers))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 409], [a.text for a in answers]
    late = next(a.json() for a in answers if a.status_code == 409)
    assert late["error"] == "review_merged" and "merged already" in late["message"]
    merged = [a.json() for a in answers if a.status_code == 200 and a.json()["state"] == "merged"]
    assert len(merged) == 1 and len(merged[0]["approvals"]) == 2
    repo = StateRepo(server.state_repo)
    merges = [c for c in repo.log(limit=20) if len(c.parents) == 2 and "race" in c.message]
    assert len(merges) == 1
