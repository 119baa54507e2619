"""A deployment's page and the project's history, in headless Chromium against a real
``rise server``: the timeline from commit to healthy (or failed, with the reason), the
rendered manifests and the diff the deployment made, and the history table taking in a new
deployment and its outcome from the event stream without a reload."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.server.conftest import RunningServer, image
from tests.ui.conftest import sign_in
from tests.ui.test_dashboard import _deploy, _running


def test_the_history_takes_in_a_new_deployment_live_and_its_page_tells_its_story(
    server: RunningServer, page: Page, artifacts: Path
) -> None:
    kim = server.user("dp-kim")
    kim.ok("POST", "/api/v1/projects", {"name": "dp-shop"}, 201)
    first = _deploy(kim, "dp-shop", 1)
    _running(kim, "dp-shop", first)
    sign_in(page, server, "dp-kim")
    page.goto(f"{server.url}/ui/projects/dp-shop")
    expect(page.get_by_role("row", name=first)).to_contain_text("running")
    page.evaluate("window.marker = 1")

    second = _deploy(kim, "dp-shop", 2)
    row = page.get_by_role("row", name=second)
    expect(row).to_contain_text("running", timeout=30_000)
    expect(row).to_contain_text(image("dp-shop", 2))
    expect(page.get_by_role("row", name=first)).not_to_contain_text("running", timeout=10_000)
    assert page.evaluate("window.marker") == 1, "the page reloaded"

    row.get_by_role("link", name=second).click()
    page.wait_for_url(f"**/deployments/{second}")
    steps = page.get_by_role("list", name="Timeline").get_by_role("listitem")
    expect(steps.first).to_contain_text("Committed")
    expect(steps.last).to_contain_text("Healthy")
    timeline = kim.ok("GET", f"/api/v1/projects/dp-shop/deployments/{second}/timeline")
    names = [s["step"] for s in timeline["steps"]]
    assert names[0] == "committed" and names[-1] == "healthy" and "applied" in names, names
    expect(steps).to_have_count(len(names))
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("Rendered and applied")

    # The diff it made: the Deployment's image went from the first to the second.
    changed = page.locator(".diff-object", has_text="Deployment")
    expect(changed.locator(".d-add", has_text=image("dp-shop", 2)).first).to_be_visible()
    manifests = page.locator("details.manifest")
    expect(manifests.first).to_be_visible()
    deployment = manifests.filter(has=page.locator("summary", has_text=re.compile("^Deployment ")))
    expect(deployment.locator("pre")).to_be_hidden()
    deployment.locator("summary").focus()
    page.keyboard.press("Enter")  # opened with the keyboard
    expect(deployment.locator("pre")).to_contain_text(image("dp-shop", 2))
    api = kim.ok("GET", f"/api/v1/projects/dp-shop/deployments/{second}/manifests")
    assert [o["kind"] for o in api["objects"]] == [
        m.split(" ")[0] for m in manifests.locator("summary").all_inner_texts()
    ]
    page.screenshot(path=str(artifacts / "dashboard-deployment-timeline.png"), full_page=True)

    page.evaluate("window.marker = 2")
    kim.ok("POST", "/api/v1/projects/dp-shop/deployments/stop")
    expect(steps.last).to_contain_text("Stopped", timeout=20_000)
    assert page.evaluate("window.marker") == 2, "the page reloaded"


def test_a_failed_deployment_shows_why_and_readers_see_no_manifests(
    server: RunningServer, page: Page
) -> None:
    lee = server.user("dp-lee")
    server.user("dp-max")
    lee.ok("POST", "/api/v1/projects", {"name": "dp-hidden", "visibility": "private"}, 201)
    lee.ok("POST", "/api/v1/projects", {"name": "dp-open"}, 201)
    failed = _deploy(lee, "dp-hidden", 1)  # no public_url: its ingress cannot be protected
    sign_in(page, server, "dp-lee")
    page.goto(f"{server.url}/ui/projects/dp-hidden/deployments/{failed}")
    expect(page.locator("h1 [data-status]")).to_have_text("failed", timeout=30_000)
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline.get_by_role("listitem").last).to_contain_text("Failed", timeout=10_000)
    expect(timeline).to_contain_text("public_url")
    expect(page.get_by_role("alert")).to_contain_text("public_url")  # it cannot be rendered

    shown = _deploy(lee, "dp-open", 1)
    _running(lee, "dp-open", shown)
    page.context.clear_cookies()
    sign_in(page, server, "dp-max")
    page.goto(f"{server.url}/ui/projects/dp-open/deployments/{shown}")
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("Healthy")
    expect(page.locator("details.manifest")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Only those who may change dp-open")
    answer = server.users["dp-max"].get(f"/api/v1/projects/dp-open/deployments/{shown}/manifests")
    assert answer.status_code == 403
    hidden = server.users["dp-max"].get(f"/api/v1/projects/dp-hidden/deployments/{failed}/timeline")
    assert hidden.status_code == 404
