"""The device flow (RFC 8628) served by rise: its endpoints and its login page over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.login.conftest import FAST, LoginPage, csrf_of, poll, start_device_login
from tests.server.conftest import RunningServer, start_server


def test_the_server_announces_the_device_flow(server: RunningServer):
    config = httpx.get(f"{server.url}/api/v1/auth/config").json()
    assert config["device_authorization_endpoint"] == "/oauth/device/code"


def test_a_code_pair_as_rfc_8628_describes_it(server: RunningServer):
    grant = start_device_login(server.url)
    code = grant["user_code"]
    assert len(code) == 9 and code[4] == "-" and code.replace("-", "").isalpha()
    assert grant["verification_uri"] == f"{server.url}/oauth/login"
    assert grant["verification_uri_complete"] == f"{server.url}/oauth/login?code={code}"
    assert grant["interval"] == 1 and grant["expires_in"] == 600
    assert len(grant["device_code"]) >= 40
    assert start_device_login(server.url)["user_code"] != code


def test_pending_then_slow_down_when_polled_too_fast(server: RunningServer):
    grant = start_device_login(server.url)
    first = poll(server.url, grant["device_code"])
    assert first.status_code == 400
    assert first.json()["error"] == "authorization_pending"
    assert first.headers["cache-control"] == "no-store"
    again = poll(server.url, grant["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "slow_down"
    assert "6 s" in again.json()["error_description"]  # the interval grew by 5 s
    time.sleep(1.2)  # the old interval is no longer enough: still too fast
    assert poll(server.url, grant["device_code"]).json()["error"] == "slow_down"


def test_an_approved_code_gives_tokens_once(server: RunningServer):
    grant = start_device_login(server.url)
    done = LoginPage(server.url).decide(grant["user_code"], "approve")
    assert done.status_code == 200 and "Login approved" in done.text
    tokens = poll(server.url, grant["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    me = httpx.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["username"] == "admin"
    # The device code is used up, and the user code is gone from the page.
    replay = poll(server.url, grant["device_code"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    page = LoginPage(server.url).open(grant["user_code"])
    assert page.status_code == 404 and "unknown, expired or already used" in page.text


def test_a_user_code_cannot_be_approved_twice(server: RunningServer):
    grant = start_device_login(server.url)
    visitor = LoginPage(server.url)
    approval = visitor.sign_in(grant["user_code"])
    decide = {"csrf": csrf_of(approval), "code": grant["user_code"], "decision": "approve"}
    assert visitor.http.post("/oauth/login", data=decide).status_code == 200
    again = visitor.http.post("/oauth/login", data=decide)
    assert again.status_code == 404 and "already used" in again.text


def test_a_denied_code_answers_access_denied(server: RunningServer):
    grant = start_device_login(server.url)
    done = LoginPage(server.url).decide(grant["user_code"], "deny")
    assert "Login denied" in done.text
    answer = poll(server.url, grant["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"
    assert poll(server.url, grant["device_code"]).json()["error"] == "invalid_grant"


def test_a_code_typed_in_lower_case_without_the_dash_is_found(server: RunningServer):
    grant = start_device_login(server.url)
    typed = grant["user_code"].replace("-", "").lower()
    assert grant["user_code"] in LoginPage(server.url).open(typed).text


def test_wrong_password_on_the_page_approves_nothing(server: RunningServer):
    grant = start_device_login(server.url)
    visitor = LoginPage(server.url)
    page = visitor.open(grant["user_code"])
    fields = {"csrf": csrf_of(page.text), "code": grant["user_code"], "username": "admin"}
    answer = visitor.http.post("/oauth/login", data={**fields, "password": "wrong-password"})
    assert answer.status_code == 401 and "Wrong username or password." in answer.text
    assert poll(server.url, grant["device_code"]).json()["error"] == "authorization_pending"


def test_forms_without_the_session_csrf_token_are_refused(server: RunningServer):
    grant = start_device_login(server.url)
    visitor = LoginPage(server.url)
    csrf = csrf_of(visitor.sign_in(grant["user_code"]))
    decide = {"code": grant["user_code"], "decision": "approve"}
    forged = visitor.http.post("/oauth/login", data={**decide, "csrf": "x" + csrf[1:]})
    assert forged.status_code == 403 and "another site" in forged.text
    # Another site's form: the browser sends no SameSite=Lax cookie on a cross-site POST.
    cross = httpx.post(f"{server.url}/oauth/login", data={**decide, "csrf": csrf})
    assert cross.status_code == 403
    assert poll(server.url, grant["device_code"]).json()["error"] == "authorization_pending"


def test_the_page_cannot_be_framed_or_cached(server: RunningServer):
    grant = start_device_login(server.url)
    page = LoginPage(server.url).open(grant["user_code"])
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/oauth" in cookie
    assert "secure" not in cookie  # plain http on loopback; https public URLs get Secure


def test_bad_requests_get_oauth_errors(server: RunningServer):
    unknown = httpx.post(f"{server.url}/oauth/device/code", data={"client_id": "evil"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    grant = httpx.post(f"{server.url}/oauth/token", data={"grant_type": "password"})
    assert grant.json()["error"] == "unsupported_grant_type"
    assert poll(server.url, "made-up").json()["error"] == "invalid_grant"
    as_json = httpx.post(f"{server.url}/oauth/token", json={"grant_type": "x"})
    assert as_json.status_code == 415


def test_an_expired_device_code(tmp_path: Path):
    short = start_server(tmp_path / "data", {**FAST, "RISE_AUTH__DEVICE__EXPIRES_IN": "10"})
    try:
        grant = start_device_login(short.url)
        time.sleep(10.2)
        answer = poll(short.url, grant["device_code"])
        assert answer.status_code == 400 and answer.json()["error"] == "expired_token"
        assert LoginPage(short.url).open(grant["user_code"]).status_code == 404
    finally:
        short.terminate()


def test_guessing_user_codes_is_rate_limited(tmp_path: Path):
    guarded = start_server(tmp_path / "data", {"RISE_AUTH__DEVICE__LOOKUP_BURST": "3"})
    try:
        grant = start_device_login(guarded.url)
        guesser = LoginPage(guarded.url)
        guesses = [g for g in ("BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM", "BCDF-GHJN")]
        guesses = [g for g in guesses if g != grant["user_code"]][:3]
        for guess in guesses:  # misses cost a token each; the right code costs none
            assert guesser.open(guess).status_code == 404
            assert guesser.open(grant["user_code"]).status_code == 200
        assert guesser.open("BCDF-GHJP").status_code == 429  # the bucket is empty
        refused = guesser.open(grant["user_code"])  # now even the right one
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "too_many_attempts"
    finally:
        guarded.terminate()


def test_behind_https_the_links_use_the_public_url_and_the_cookie_is_secure(tmp_path: Path):
    public = "https://rise.example.test"
    behind = start_server(tmp_path / "data", {"RISE_PUBLIC_URL": public})
    try:
        grant = start_device_login(behind.url)
        assert grant["verification_uri_complete"] == (
            f"{public}/oauth/login?code={grant['user_code']}"
        )
        cookie = LoginPage(behind.url).open(grant["user_code"]).headers["set-cookie"]
        assert "secure" in cookie.lower()
    finally:
        behind.terminate()
