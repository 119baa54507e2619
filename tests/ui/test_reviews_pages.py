"""Reviews in the dashboard, in headless Chromium against a real ``rise server``: a review
opened through the API appears with its diff, a teammate approves it with the button and the
deployment lands; the author is told why they cannot approve their own; a private project's
review shows to no one without access; a forged approve without the CSRF token is refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.server.conftest import Api, RunningServer, image
from tests.support.waiting import eventually
from tests.ui.conftest import sign_in
from tests.ui.test_security import _events


def _review(api: Api, project: str, n: int) -> str:
    body = {"image": image(project, n), "review": True}
    answer = api.ok("POST", f"/api/v1/projects/{project}/deployments", body, 202)
    assert answer["status"] == "in_review"
    return str(answer["review"])


def test_a_teammate_approves_a_review_in_the_page_and_it_lands(
    server: RunningServer, page: Page, artifacts: Path
) -> None:
    alice, bob = server.user("rv-alice"), server.user("rv-bob")
    alice.ok("POST", "/api/v1/teams", {"name": "rv-team", "members": ["rv-alice", "rv-bob"]}, 201)
    alice.ok("POST", "/api/v1/projects", {"name": "rv-shop", "owner": "team:rv-team"}, 201)
    review = _review(alice, "rv-shop", 1)

    sign_in(page, server, "rv-bob")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Reviews")).to_contain_text("1")
    nav.get_by_role("link", name="Reviews").click()
    row = page.get_by_role("row", name=review)
    expect(row).to_contain_text("rv-shop")
    expect(row).to_contain_text("rv-alice")
    expect(row).to_contain_text(image("rv-shop", 1))
    page.screenshot(path=str(artifacts / "dashboard-reviews.png"), full_page=True)

    row.get_by_role("link", name=review).click()
    page.wait_for_url(f"**/ui/reviews/rv-shop/{review}")
    shown = alice.ok("GET", f"/api/v1/reviews/rv-shop/{review}")
    assert shown["changed"] and image("rv-shop", 1) in shown["diff"]
    added = page.locator("pre.diff .d-add", has_text=image("rv-shop", 1))
    expect(added.first).to_be_visible()
    summary = shown["diff"].strip().splitlines()[-1]
    expect(page.locator("main")).to_contain_text(summary)  # the API's (and CLI's) totals
    page.screenshot(path=str(artifacts / "dashboard-review.png"), full_page=True)

    page.goto(f"{server.url}/ui/reviews/{review}")  # by id alone, as rise review show takes it
    page.wait_for_url(f"**/ui/reviews/rv-shop/{review}")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**/ui/projects/rv-shop/deployments/{review}")
    merged = bob.get(f"/api/v1/reviews/rv-shop/{review}")
    assert merged.status_code == 409 and merged.json()["error"] == "review_merged"
    history = bob.ok("GET", "/api/v1/projects/rv-shop/deployments")
    assert history[0]["id"] == review and history[0]["approved_by"] == ["rv-bob"]
    expect(page.locator("h1 [data-status]")).to_have_text("running", timeout=30_000)
    assert bob.ok("GET", "/api/v1/reviews") == []
    page.goto(f"{server.url}/ui/reviews")
    expect(page.locator("tbody")).to_contain_text("Nothing waits for review")


def test_the_author_is_told_why_they_cannot_approve_and_may_withdraw(
    server: RunningServer, page: Page
) -> None:
    cleo = server.user("rv-cleo")
    cleo.ok("POST", "/api/v1/projects", {"name": "rv-own"}, 201)
    review = _review(cleo, "rv-own", 1)
    sign_in(page, server, "rv-cleo")
    page.goto(f"{server.url}/ui/reviews/rv-own/{review}")
    approve = page.get_by_role("button", name="Approve")
    expect(approve).to_be_disabled()
    expect(approve).to_have_accessible_description(
        "You cannot approve: you asked for this review, so you cannot approve it: another "
        "member of the project's team (or an admin) does; you may withdraw it with Reject."
    )
    page.get_by_label("Reason for rejecting").fill("wrong image")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_url(f"**/ui/reviews/rv-own/{review}")
    expect(page.locator("h1")).to_contain_text("rejected")
    expect(page.locator(".facts")).to_contain_text("rv-cleo: wrong image")
    rows = cleo.ok("GET", "/api/v1/reviews?state=rejected")
    assert [(r["id"], r["state"], r["reason"]) for r in rows] == [
        (review, "rejected", "wrong image")
    ]


def test_a_private_review_shows_to_no_one_without_access(server: RunningServer, page: Page) -> None:
    dana, eli = server.user("rv-dana"), server.user("rv-eli")
    dana.ok("POST", "/api/v1/projects", {"name": "rv-vault", "visibility": "private"}, 201)
    seen: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(target=_events, args=(eli, seen, stop), daemon=True)
    reader.start()
    eventually(lambda: seen, timeout=10)
    _review(dana, "rv-vault", 1)
    dana.ok("POST", "/api/v1/projects/rv-vault/deployments", {"image": image("rv-vault")}, 201)
    # Its status changes (this server cannot protect a private app's ingress: it fails).
    eventually(lambda: dana.ok("GET", "/api/v1/projects/rv-vault")["status"] == "failed", 30)
    time.sleep(0.5)
    stop.set()
    assert not [line for line in seen if "rv-vault" in line], seen

    other = _review(dana, "rv-vault", 2)
    sign_in(page, server, "rv-eli")
    page.goto(f"{server.url}/ui/reviews")
    expect(page.locator("main")).not_to_contain_text("rv-vault")
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("1")
    for path in (f"/ui/reviews/rv-vault/{other}", f"/ui/reviews/{other}"):
        answer = page.goto(f"{server.url}{path}")
        assert answer is not None and answer.status == 404
    expect(page.locator("main")).not_to_contain_text(image("rv-vault", 2))


def test_a_forged_approve_is_refused(server: RunningServer, page: Page) -> None:
    fay, gus = server.user("rv-fay"), server.user("rv-gus")
    fay.ok("POST", "/api/v1/teams", {"name": "rv-pair", "members": ["rv-fay", "rv-gus"]}, 201)
    fay.ok("POST", "/api/v1/projects", {"name": "rv-forge", "owner": "team:rv-pair"}, 201)
    review = _review(fay, "rv-forge", 1)
    sign_in(page, server, "rv-gus")
    url = f"{server.url}/ui/reviews/rv-forge/{review}/approve"
    forged: list[dict[str, str | float | bool]] = [{}, {"csrf": "0" * 64}]
    for form in forged:
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403 and "CSRF" in answer.text()
    assert gus.ok("GET", f"/api/v1/reviews/rv-forge/{review}")["state"] == "open"
    assert gus.ok("GET", f"/api/v1/reviews/rv-forge/{review}")["approvals"] == []
