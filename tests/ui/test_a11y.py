"""Accessibility of every main page, in headless Chromium against a real ``rise server``:
axe-core (npm, installed by ``.ci/run`` into tests/ui/axe/) finds no serious or critical
violation; the approve, reject and roll-back forms work from the keyboard alone; statuses
are text as well as colour; the review pages fit a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import RunningServer, image
from tests.support.tools import in_ci
from tests.ui.conftest import sign_in
from tests.ui.test_dashboard import _deploy, _running

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
STATUSES = {"deploying", "running", "failed", "stopped", "unknown", "invalid", "superseded"}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        message = f"axe-core is not installed ({AXE}): npm ci --prefix tests/ui/axe"
        if in_ci():
            pytest.fail(f"{message}; .ci/run must install it")
        pytest.skip(message)
    return AXE.read_text()


def _audit(page: Page, axe_source: str) -> list[str]:
    """The serious and critical violations axe finds on the page as it is now."""
    # Evaluated through the DevTools protocol, so the page's strict CSP stays as it is.
    page.evaluate(axe_source)
    found: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in found["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _statuses_have_text(page: Page) -> None:
    for badge in page.locator(".status").all():
        assert badge.inner_text().strip().replace(" ", "_") in STATUSES | {
            "open",
            "stale",
            "rejected",
        }, badge.inner_text()


def test_every_main_page_passes_axe_and_the_forms_work_from_the_keyboard(
    server: RunningServer, page: Page, browser: Browser, axe_source: str, artifacts: Path
) -> None:
    una = server.user("ax-una")
    server.user("ax-vic")
    una.ok("POST", "/api/v1/teams", {"name": "ax-team", "members": ["ax-una", "ax-vic"]}, 201)
    una.ok("POST", "/api/v1/projects", {"name": "ax-app", "owner": "team:ax-team"}, 201)
    una.ok("PUT", "/api/v1/projects/ax-app/env/TOKEN", {"value": "hidden-value", "secret": True})
    first = _deploy(una, "ax-app", 1)
    _running(una, "ax-app", first)
    second = _deploy(una, "ax-app", 2)
    _running(una, "ax-app", second)
    body = {"image": image("ax-app", 3), "review": True}
    review = una.ok("POST", "/api/v1/projects/ax-app/deployments", body, 202)["review"]
    problems: list[str] = []

    page.goto(f"{server.url}/ui/sign-in")
    problems += _audit(page, axe_source)
    sign_in(page, server, "ax-vic")
    pages = [
        "/ui/projects",
        "/ui/projects?status=runing",
        "/ui/projects/ax-app",
        f"/ui/projects/ax-app/deployments/{second}",
        "/ui/teams",
        "/ui/reviews",
        f"/ui/reviews/ax-app/{review}",
        "/ui/projects/no-such-project",
    ]
    for path in pages:
        page.goto(f"{server.url}{path}")
        for details in page.locator("details").all():
            details.evaluate("element => element.open = true")  # audit what they hide too
        problems += _audit(page, axe_source)
        _statuses_have_text(page)
    assert problems == [], "\n".join(problems)

    # Approve from the keyboard: Tab until the Approve button has focus, then Enter.
    page.goto(f"{server.url}/ui/reviews/ax-app/{review}")
    _tab_to(page, "Approve")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/projects/ax-app/deployments/{review}")
    assert una.ok("GET", "/api/v1/projects/ax-app/deployments")[0]["approved_by"] == ["ax-vic"]
    _running(una, "ax-app", review)

    # Roll back from the keyboard: the button of the first deployment, then Space.
    page.goto(f"{server.url}/ui/projects/ax-app")
    _tab_to(page, f"Roll back to {first}")
    with page.expect_navigation():
        page.keyboard.press("Space")
    current = una.ok("GET", "/api/v1/projects/ax-app")["deployment"]
    assert current["rollback_of"] == first

    # Reject from the keyboard: the reason field, typed, then Tab to Reject and Enter.
    body = {"image": image("ax-app", 4), "review": True}
    other = una.ok("POST", "/api/v1/projects/ax-app/deployments", body, 202)["review"]
    page.goto(f"{server.url}/ui/reviews/ax-app/{other}")
    _tab_to(page, "Reason for rejecting")
    page.keyboard.type("not this week")
    page.keyboard.press("Tab")
    assert _focused(page) == "Reject"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rejected = una.ok("GET", f"/api/v1/reviews/ax-app/{other}")
    assert (rejected["state"], rejected["reason"]) == ("rejected", "not this week")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = phone.new_page()
    sign_in(small, server, "ax-una")
    body = {"image": image("ax-app", 5), "review": True}
    third = una.ok("POST", "/api/v1/projects/ax-app/deployments", body, 202)["review"]
    for path, shot in (
        ("/ui/reviews", "dashboard-phone-reviews.png"),
        (f"/ui/reviews/ax-app/{third}", "dashboard-phone-review.png"),
        (f"/ui/projects/ax-app/deployments/{second}", "dashboard-phone-deployment.png"),
    ):
        small.goto(f"{server.url}{path}")
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        expect(small.locator("h1")).to_be_visible()
        assert _audit(small, axe_source) == []
        small.screenshot(path=str(artifacts / shot), full_page=True)
    phone.close()


def _focused(page: Page) -> str:
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
            return e.labels && e.labels.length ? e.labels[0].innerText
              : (e.getAttribute('aria-label') || e.innerText || '').trim(); }"""
        )
    )


def _tab_to(page: Page, name: str, presses: int = 80) -> None:
    """Tab through the page as a keyboard user does until ``name`` has focus."""
    page.locator("body").focus()
    for _ in range(presses):
        page.keyboard.press("Tab")
        if _focused(page) == name:
            return
    raise AssertionError(f"{name!r} cannot be reached with Tab")
