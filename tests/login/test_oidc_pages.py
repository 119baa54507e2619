"""The provider sign-in's pages over plain HTTP, on a server with password login turned off.

A browser is an ``httpx.Client`` with a cookie jar here: these tests look at what the pages
and redirects say (cookies, parameters, refusals), the Chromium tests at what a person does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.server.oidc_accounts import reserved_by, rise_username
from schemas.names import name_problem
from tests.login.conftest import FAST, start_device_login
from tests.server.conftest import RunningServer, start_server
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_VARIABLE,
    OidcProvider,
    provider_config,
    stopped_after,
)
from tests.support.waiting import free_port


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    yield from stopped_after(OidcProvider(tmp_path_factory.mktemp("provider"), {"carol": ["ops"]}))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider
) -> Iterator[RunningServer]:
    down = provider_config(provider, name="down", issuer=f"http://127.0.0.1:{free_port()}")
    providers = [provider_config(provider), {**down, "display_name": None}]
    env = {
        **FAST,
        "RISE_AUTH__LOCAL__ENABLED": "false",
        "RISE_AUTH__OIDC": json.dumps(providers),
        SECRET_VARIABLE: CLIENT_SECRET,
    }
    running = start_server(tmp_path_factory.mktemp("oidc-pages") / "data", env)
    provider.start([f"{running.url}/oauth/oidc/corp/callback"])
    yield running
    running.terminate()


def browser(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def start_and_get_state(visitor: httpx.Client) -> str:
    """Start a sign-in at ``corp``; the state the provider would send back."""
    started = visitor.get("/oauth/oidc/corp/start")
    return parse_qs(urlsplit(started.headers["location"]).query)["state"][0]


def answer_callback(visitor: httpx.Client, **params: str) -> httpx.Response:
    """The provider's redirect back, as this browser follows it."""
    return visitor.get("/oauth/oidc/corp/callback", params=params)


def test_the_login_page_offers_only_the_providers(server: RunningServer):
    code = start_device_login(server.url)["user_code"]
    page = browser(server).get("/oauth/login", params={"code": code})
    assert page.status_code == 200
    assert f'href="/oauth/oidc/corp/start?device={code}">Sign in with Corp SSO</a>' in page.text
    assert ">Sign in with down</a>" in page.text
    assert 'type="password"' not in page.text


def test_a_password_post_is_refused_when_local_login_is_off(
    server: RunningServer, provider: OidcProvider
):
    code = start_device_login(server.url)["user_code"]
    visitor = browser(server)
    callback = f"{server.url}/oauth/oidc/corp/callback"
    start = f"{server.url}/oauth/oidc/corp/start?device={code}"
    landed = visitor.get(provider.follow_login(visitor, start, "carol", callback))
    assert landed.headers["location"] == f"/oauth/login?code={code}"
    approval = visitor.get(landed.headers["location"])
    assert "Signed in as <strong>corp-carol</strong>" in approval.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', approval.text)
    assert csrf
    fields = {"csrf": csrf.group(1), "code": code, "username": "admin", "password": "x"}
    answer = visitor.post("/oauth/login", data=fields)
    assert answer.status_code == 404 and "sign-in is turned off" in answer.text


def test_signed_in_without_a_code_the_page_asks_for_it(
    server: RunningServer, provider: OidcProvider
):
    visitor = browser(server)
    callback = f"{server.url}/oauth/oidc/corp/callback"
    start = f"{server.url}/oauth/oidc/corp/start?device="
    landed = visitor.get(provider.follow_login(visitor, start, "carol", callback))
    page = visitor.get(landed.headers["location"])
    assert "Signed in as <strong>corp-carol</strong>" in page.text
    assert '<form method="get" action="/oauth/login">' in page.text
    code = start_device_login(server.url)["user_code"]
    approval = visitor.get("/oauth/login", params={"code": code})
    assert f'id="user-code">{code}<' in approval.text and "Approve" in approval.text


def test_the_dashboard_offers_only_the_providers(server: RunningServer):
    page = browser(server).get("/ui/sign-in", params={"next": "/ui/teams"})
    assert 'href="/oauth/oidc/corp/start?next=/ui/teams">Sign in with Corp SSO</a>' in page.text
    assert 'type="password"' not in page.text


def test_start_binds_state_nonce_and_pkce_to_the_browser(
    server: RunningServer, provider: OidcProvider
):
    answer = browser(server).get("/oauth/oidc/corp/start", params={"next": "/ui/teams"})
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == provider.issuer
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 40 and len(query["nonce"]) >= 40
    assert query["redirect_uri"] == f"{server.url}/oauth/oidc/corp/callback"
    assert CLIENT_SECRET not in answer.headers["location"]
    cookie = answer.headers["set-cookie"].lower()
    assert "rise_oidc=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/oauth/oidc/" in cookie and "max-age=600" in cookie


def test_a_sign_in_lands_on_the_dashboard_page_asked_for(
    server: RunningServer, provider: OidcProvider
):
    visitor = browser(server)
    callback = f"{server.url}/oauth/oidc/corp/callback"
    location = provider.follow_login(
        visitor, f"{server.url}/oauth/oidc/corp/start?next=/ui/teams", "carol", callback
    )
    assert parse_qs(urlsplit(location).query)["iss"] == [provider.issuer]  # RFC 9207, checked
    landed = visitor.get(location)
    assert landed.status_code == 303 and landed.headers["location"] == "/ui/teams"
    assert "rise_session" in visitor.cookies
    assert "corp-carol" in visitor.get("/ui/teams").text
    # The same callback again: the sign-in was used up.
    again = visitor.get(location)
    assert again.status_code == 400 and "already used" in again.text


def test_next_never_leaves_the_dashboard(server: RunningServer, provider: OidcProvider):
    visitor = browser(server)
    callback = f"{server.url}/oauth/oidc/corp/callback"
    start = f"{server.url}/oauth/oidc/corp/start?next=https://evil.example/ui/x"
    landed = visitor.get(provider.follow_login(visitor, start, "carol", callback))
    assert landed.headers["location"] == "/ui/projects"


def test_a_wrong_state_is_refused(server: RunningServer):
    visitor = browser(server)
    visitor.get("/oauth/oidc/corp/start")
    answer = visitor.get("/oauth/oidc/corp/callback", params={"state": "guessed", "code": "x"})
    assert answer.status_code == 400 and "not started in this browser" in answer.text


def test_a_code_the_provider_refuses_fails_the_sign_in(server: RunningServer):
    visitor = browser(server)
    state = start_and_get_state(visitor)
    answer = answer_callback(visitor, state=state, code="forged")
    assert answer.status_code == 401
    assert "provider &#39;corp&#39; refused the code (invalid_grant" in answer.text


def test_an_answer_from_another_issuer_is_refused(server: RunningServer):
    """RFC 9207: the authorization response names its issuer; another one is a mix-up."""
    visitor = browser(server)
    state = start_and_get_state(visitor)
    answer = answer_callback(visitor, state=state, code="c", iss="https://evil.example")
    assert answer.status_code == 401 and "came from &#39;https://evil.example&#39;" in answer.text


def test_the_provider_saying_no_is_shown(server: RunningServer):
    visitor = browser(server)
    state = start_and_get_state(visitor)
    said = {"error": "access_denied", "error_description": "<b>no</b>"}
    answer = answer_callback(visitor, state=state, **said)
    assert answer.status_code == 401
    assert "Corp SSO did not sign you in: &lt;b&gt;no&lt;/b&gt;" in answer.text


def test_return_goes_back_to_a_login_page_only(server: RunningServer, provider: OidcProvider):
    callback = f"{server.url}/oauth/oidc/corp/callback"
    for asked, expected in [
        ("/oauth/authorize?client_id=rise-cli&x=1", "/oauth/authorize?client_id=rise-cli&x=1"),
        ("https://evil.example/oauth/login", "/oauth/login"),
        ("//evil.example/oauth/login", "/oauth/login"),
        ("/ui/projects", "/oauth/login"),
        ("/oauth/oidc/corp/callback?state=x", "/oauth/login"),
    ]:
        visitor = browser(server)
        start = f"{server.url}/oauth/oidc/corp/start?" + urlencode({"return": asked})
        landed = visitor.get(provider.follow_login(visitor, start, "carol", callback))
        assert landed.headers["location"] == expected, asked
        assert "rise_login" in visitor.cookies


def test_starting_sign_ins_is_rate_limited(tmp_path: Path, provider: OidcProvider):
    """Each start keeps a sign-in in memory: a client gets 20 at once, then one a second."""
    corp = provider_config(provider)
    env = {"RISE_AUTH__OIDC": json.dumps([corp]), SECRET_VARIABLE: CLIENT_SECRET}
    other = start_server(tmp_path / "data", env)
    try:
        answers = [browser(other).get("/oauth/oidc/corp/start") for _ in range(30)]
    finally:
        other.terminate()
    statuses = [a.status_code for a in answers]
    assert statuses[:20] == [303] * 20 and 429 in statuses, statuses
    refused = answers[statuses.index(429)]
    assert int(refused.headers["retry-after"]) >= 1 and "rise_oidc" not in refused.headers.get(
        "set-cookie", ""
    )


def test_an_unknown_provider_is_a_404(server: RunningServer):
    answer = browser(server).get("/oauth/oidc/nope/start")
    assert answer.status_code == 404 and "no sign-in provider named" in answer.text


def test_a_provider_that_is_down_says_so(server: RunningServer):
    answer = browser(server).get("/oauth/oidc/down/start")
    assert answer.status_code == 502 and "down cannot be reached right now" in answer.text
    assert "rise_oidc" not in answer.headers.get("set-cookie", "")


@given(st.text(max_size=200))
def test_provider_user_names_are_valid_and_namespaced(claimed: str):
    name = rise_username("corp", claimed)
    assert name_problem(name) is None, name
    assert name.startswith("corp-") and len(name) <= 60
    assert reserved_by(["other", "corp"], name) == "corp"
