"""The dashboard as a person uses it, in headless Chromium against a real ``rise server``:
sign in, the projects table, a project whose status follows a deploy made through the API
without a reload, a rollback with the button, and screenshots of each page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import Api, RunningServer, image
from tests.support.waiting import eventually
from tests.ui.conftest import sign_in


def _deploy(api: Api, project: str, n: int) -> str:
    return str(
        api.ok(
            "POST", f"/api/v1/projects/{project}/deployments", {"image": image(project, n)}, 201
        )["id"]
    )


def _status(api: Api, project: str) -> dict[str, Any]:
    return api.ok("GET", f"/api/v1/projects/{project}")  # type: ignore[no-any-return]


def _running(api: Api, project: str, deployment: str) -> None:
    eventually(
        lambda: (
            (_status(api, project)["status"], _status(api, project)["deployment_id"])
            == ("running", deployment)
        ),
        timeout=30,
    )


def test_sign_in_watch_a_deploy_go_live_and_roll_it_back(
    server: RunningServer, page: Page, browser: Browser, artifacts: Path
) -> None:
    alice = server.user("alice")
    alice.ok("POST", "/api/v1/projects", {"name": "shop"}, 201)
    alice.ok("POST", "/api/v1/projects", {"name": "blog", "visibility": "private"}, 201)
    alice.ok("POST", "/api/v1/teams", {"name": "web", "members": ["alice"]}, 201)
    first = _deploy(alice, "shop", 1)
    _running(alice, "shop", first)
    alice.ok("PUT", "/api/v1/projects/shop/env/API_KEY", {"value": "s3cret-value", "secret": True})
    alice.ok("PUT", "/api/v1/projects/shop/env/MODE", {"value": "production"})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    sign_in(page, server, "alice")
    table = page.get_by_role("table")
    expect(table.get_by_role("row", name="shop")).to_contain_text("running")
    expect(table.get_by_role("row", name="blog")).to_contain_text("private")
    page.screenshot(path=str(artifacts / "dashboard-projects.png"), full_page=True)

    page.get_by_role("link", name="shop", exact=True).click()
    page.wait_for_url("**/ui/projects/shop")
    badge = page.locator("h1 [data-status]")
    expect(badge).to_have_text("running")
    expect(page.get_by_role("row", name="API_KEY")).to_contain_text("********")
    expect(page.locator("body")).not_to_contain_text("s3cret-value")
    # Record every status the badge shows, and mark the document: a reload would lose both.
    page.evaluate(
        """() => { window.seen = [];
        const badge = document.querySelector('h1 [data-status]');
        new MutationObserver(() => window.seen.push(badge.textContent))
          .observe(badge, {childList: true, characterData: true, subtree: true}); }"""
    )

    second = _deploy(alice, "shop", 2)
    expect(page.locator("[data-deployment]")).to_contain_text(second, timeout=20_000)
    expect(badge).to_have_text("running", timeout=20_000)
    seen = page.evaluate("window.seen")
    assert seen is not None, "the page reloaded"
    assert "deploying" in seen and seen[-1] == "running", seen
    page.reload()
    page.screenshot(path=str(artifacts / "dashboard-project.png"), full_page=True)
    page.get_by_role("button", name=f"Roll back to {first}").click()
    page.wait_for_url("**/ui/projects/shop")
    current = _status(alice, "shop")["deployment"]
    assert current["rollback_of"] == first and current["image"] == image("shop", 1)
    _running(alice, "shop", current["id"])
    expect(page.get_by_role("row", name=current["id"])).to_contain_text(f"rollback of {first}")

    page.get_by_role("link", name=first).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(first)
    expect(page.locator(".facts")).to_contain_text(image("shop", 1))
    page.screenshot(path=str(artifacts / "dashboard-deployment.png"), full_page=True)

    page.get_by_role("link", name="Teams").click()
    expect(page.get_by_role("row", name="web")).to_contain_text("alice")
    page.screenshot(path=str(artifacts / "dashboard-teams.png"), full_page=True)
    assert problems == [], problems  # no CSP violation, no script error

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = phone.new_page()
    sign_in(small, server, "alice")
    small.goto(f"{server.url}/ui/projects/shop")
    expect(small.locator("h1 [data-status]")).to_have_text("running")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"  # tables scroll inside
    small.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)
    phone.close()


def test_a_deployment_page_follows_its_status_live(server: RunningServer, page: Page) -> None:
    ivy = server.user("ivy")
    ivy.ok("POST", "/api/v1/projects", {"name": "ivy-app"}, 201)
    deployed = _deploy(ivy, "ivy-app", 1)
    _running(ivy, "ivy-app", deployed)
    sign_in(page, server, "ivy")
    page.goto(f"{server.url}/ui/projects/ivy-app/deployments/{deployed}")
    badge = page.locator("h1 [data-status]")
    expect(badge).to_have_text("running")
    page.evaluate("window.marker = 1")
    ivy.ok("POST", "/api/v1/projects/ivy-app/deployments/stop")
    expect(badge).to_have_text("stopped", timeout=20_000)
    assert page.evaluate("window.marker") == 1, "the page reloaded"


def test_the_projects_table_follows_statuses_live(server: RunningServer, page: Page) -> None:
    jay = server.user("jay")
    jay.ok("POST", "/api/v1/projects", {"name": "jay-live"}, 201)
    sign_in(page, server, "jay")
    row = page.get_by_role("row", name="jay-live")
    expect(row.locator("[data-status]")).to_have_text("stopped")
    page.evaluate("window.marker = 1")
    deployed = _deploy(jay, "jay-live", 1)
    expect(row.locator("[data-status]")).to_have_text("running", timeout=20_000)
    _running(jay, "jay-live", deployed)
    assert page.evaluate("window.marker") == 1, "the page reloaded"
