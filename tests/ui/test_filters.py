"""The projects page's filters in headless Chromium: by team, by status and by search, as
query parameters (a link anyone can share, through the sign-in too), without JavaScript; a
status it does not know is named with a suggestion; with JavaScript the search narrows the
table as you type."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import USER_PASSWORD, RunningServer
from tests.ui.conftest import sign_in
from tests.ui.test_dashboard import _deploy, _running


def _names(page: Page) -> list[str]:
    return page.locator("tbody tr[data-name]:visible th").all_inner_texts()


def test_team_status_and_search_filters_are_shareable_links_without_javascript(
    server: RunningServer, browser: Browser
) -> None:
    ann = server.user("fl-ann")
    server.user("fl-bo").ok(
        "POST", "/api/v1/projects", {"name": "fl-secret", "visibility": "private"}, 201
    )
    ann.ok("POST", "/api/v1/teams", {"name": "fl-web", "members": ["fl-ann"]}, 201)
    ann.ok("POST", "/api/v1/teams", {"name": "fl-data", "members": ["fl-ann"]}, 201)
    ann.ok("POST", "/api/v1/projects", {"name": "fl-api", "owner": "team:fl-web"}, 201)
    ann.ok("POST", "/api/v1/projects", {"name": "fl-site", "owner": "team:fl-web"}, 201)
    ann.ok("POST", "/api/v1/projects", {"name": "fl-etl", "owner": "team:fl-data"}, 201)
    ann.ok("POST", "/api/v1/projects", {"name": "fl-mine"}, 201)
    _running(ann, "fl-site", _deploy(ann, "fl-site", 1))

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server, "fl-ann")
    page.get_by_label("Search").fill("fl-")
    page.get_by_label("Team").select_option("fl-web")
    page.get_by_role("button", name="Filter").click()
    assert parse_qs(urlsplit(page.url).query) == {"q": ["fl-"], "team": ["fl-web"]}
    assert sorted(_names(page)) == ["fl-api", "fl-site"]
    expect(page.locator("[data-count]")).to_contain_text("2 of")
    page.get_by_label("Status").select_option("running")
    page.get_by_role("button", name="Filter").click()
    assert _names(page) == ["fl-site"]
    shared = page.url
    page.goto(f"{server.url}/ui/projects?team=fl-data")
    assert _names(page) == ["fl-etl"]
    page.goto(f"{server.url}/ui/projects?q=secret")
    expect(page.locator("tbody")).to_contain_text("No projects match")  # not bo's private one
    page.goto(f"{server.url}/ui/projects?status=runing&q=fl-")
    expect(page.get_by_role("alert")).to_contain_text("unknown status 'runing'")
    expect(page.get_by_role("alert")).to_contain_text("did you mean 'running'")
    assert len(_names(page)) == 4  # the rest of the filter still applies
    context.close()

    other = browser.new_context(java_script_enabled=False)
    fresh = other.new_page()
    fresh.goto(shared)  # someone else's link: through the sign-in, to the same filtered view
    fresh.get_by_label("Username").fill("fl-ann")
    fresh.get_by_label("Password").fill(USER_PASSWORD)
    fresh.get_by_role("button", name="Sign in").click()
    fresh.wait_for_url("**/ui/projects?*")
    assert fresh.url == shared
    assert _names(fresh) == ["fl-site"]
    other.close()


def test_the_search_narrows_the_table_as_you_type(server: RunningServer, page: Page) -> None:
    cy = server.user("fl-cy")
    for name in ("fl-cy-alpha", "fl-cy-beta", "fl-cy-gamma"):
        cy.ok("POST", "/api/v1/projects", {"name": name}, 201)
    sign_in(page, server, "fl-cy")
    page.goto(f"{server.url}/ui/projects?q=fl-cy")
    assert len(_names(page)) == 3
    page.get_by_label("Search").fill("fl-cy-be")
    expect(page.locator("tbody tr[data-name]:visible")).to_have_count(1)
    assert _names(page) == ["fl-cy-beta"]
    expect(page.locator("[data-count]")).to_have_text(re.compile(r"^1 of \d+ projects$"))
    assert urlsplit(page.url).query == "q=fl-cy"  # nothing was submitted
    page.get_by_label("Search").press("Enter")
    page.wait_for_url("**/ui/projects?q=fl-cy-be&*")
    assert _names(page) == ["fl-cy-beta"]
