"""The authorization code grant's refusals, over HTTP against a running server.

Each refusal is the RFC's own: at ``/oauth/authorize`` an error page when the client or the
redirect URI cannot be trusted (no redirect at all), otherwise ``error=`` back to the
client (RFC 6749 4.1.2.1); at ``/oauth/token`` the JSON errors of section 5.2.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.login.conftest import FAST, csrf_of
from tests.server.conftest import ADMIN_PASSWORD, RunningServer, start_server

CODE_TTL = 3
CALLBACK = "http://127.0.0.1:49152/callback"


@pytest.fixture(scope="module")
def short_codes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {**FAST, "RISE_AUTH__BROWSER__CODE_TTL": str(CODE_TTL)}
    running = start_server(tmp_path_factory.mktemp("pkce") / "data", env)
    yield running
    running.terminate()


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def request_of(verifier: str, **changes: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": "rise-cli",
        "redirect_uri": CALLBACK,
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
        "state": "st-" + secrets.token_urlsafe(8),
    }
    query.update(changes)
    return {k: v for k, v in query.items() if v != "-"}  # "-": leave the field out


class Person:
    """A browser without JavaScript: a cookie jar walking the sign-in and approval forms."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=30)
        self.signed_in = False

    def authorize(self, query: dict[str, str]) -> httpx.Response:
        return self.http.get("/oauth/authorize", params=query)

    def approve(self, query: dict[str, str], decision: str = "approve") -> dict[str, str]:
        """Sign in (once) and decide; the fields the browser is sent back to the CLI with."""
        page = self.authorize(query)
        assert page.status_code == 200, page.text
        if not self.signed_in:
            next_field = re.search(r'name="next" value="([^"]+)"', page.text)
            assert next_field, page.text
            form = {"csrf": csrf_of(page.text), "next": next_field.group(1).replace("&amp;", "&")}
            signed = self.http.post(
                "/oauth/login", data={**form, "username": "admin", "password": ADMIN_PASSWORD}
            )
            assert signed.status_code == 303, signed.text
            assert signed.headers["location"].startswith("/oauth/authorize?")
            page = self.http.get(signed.headers["location"])
            self.signed_in = True
        assert "Approve" in page.text, page.text
        decided = self.http.post(
            "/oauth/authorize", data={**query, "csrf": csrf_of(page.text), "decision": decision}
        )
        assert decided.status_code == 303, decided.text
        location = urlsplit(decided.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == query["redirect_uri"]
        return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(url: str, code: str, verifier: str, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": "rise-cli",
        "code_verifier": verifier,
    }
    form.update(changes)  # "code" may be among them
    return httpx.post(f"{url}/oauth/token", data={k: v for k, v in form.items() if v != "-"})


def refused(response: httpx.Response, error: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    return body


@pytest.fixture(scope="module")
def person(short_codes: RunningServer) -> Person:
    return Person(short_codes.url)


def test_a_code_gives_the_token_pair_once(short_codes: RunningServer, person: Person) -> None:
    verifier = secrets.token_urlsafe(48)
    query = request_of(verifier)
    answer = person.approve(query)
    assert answer["state"] == query["state"] and len(answer["code"]) >= 40
    tokens = exchange(short_codes.url, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["expires_in"] > 0
    me = httpx.get(
        f"{short_codes.url}/api/v1/me",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert me.json()["username"] == "admin"
    replay = refused(exchange(short_codes.url, answer["code"], verifier), "invalid_grant")
    assert "already used" in replay["error_description"]


def test_the_server_announces_the_endpoint(short_codes: RunningServer) -> None:
    config = httpx.get(f"{short_codes.url}/api/v1/auth/config").json()
    assert config["authorization_endpoint"] == "/oauth/authorize"


def test_a_wrong_verifier_is_refused_and_uses_the_code_up(
    short_codes: RunningServer, person: Person
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = person.approve(request_of(verifier))["code"]
    wrong = refused(exchange(short_codes.url, code, secrets.token_urlsafe(48)), "invalid_grant")
    assert "code_verifier does not match" in wrong["error_description"]
    refused(exchange(short_codes.url, code, verifier), "invalid_grant")


def test_an_expired_code_is_refused(short_codes: RunningServer, person: Person) -> None:
    verifier = secrets.token_urlsafe(48)
    code = person.approve(request_of(verifier))["code"]
    time.sleep(CODE_TTL + 0.5)
    expired = refused(exchange(short_codes.url, code, verifier), "invalid_grant")
    assert "expired" in expired["error_description"]


def test_a_code_for_another_redirect_uri_or_client(
    short_codes: RunningServer, person: Person
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = person.approve(request_of(verifier))["code"]
    other = "http://127.0.0.1:49153/callback"
    moved = refused(exchange(short_codes.url, code, verifier, redirect_uri=other), "invalid_grant")
    assert "redirect_uri" in moved["error_description"]
    code = person.approve(request_of(verifier))["code"]
    stranger = exchange(short_codes.url, code, verifier, client_id="someone-else")
    refused(stranger, "invalid_client", 401)


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"code": "-"}, "invalid_request", "missing code"),
        ({"code_verifier": "-"}, "invalid_request", "missing code_verifier"),
        ({"redirect_uri": "-"}, "invalid_request", "missing redirect_uri"),
        ({"code_verifier": "short"}, "invalid_request", "43 to 128"),
        ({"grant_type": "password"}, "unsupported_grant_type", "authorization_code"),
        ({"code": "made-up"}, "invalid_grant", "unknown or already used"),
    ],
)
def test_token_request_refusals(
    short_codes: RunningServer, changes: dict[str, str], error: str, words: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    fields = {"code": "some-code", **changes}
    body = refused(exchange(short_codes.url, verifier=verifier, **fields), error)
    assert words in body["error_description"]


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"code_challenge": "-"}, "invalid_request", "code_challenge is required"),
        ({"code_challenge_method": "plain"}, "invalid_request", "must be S256, not 'plain'"),
        ({"code_challenge_method": "-"}, "invalid_request", "must be S256"),
        ({"code_challenge": "tooshort"}, "invalid_request", "43-character"),
        ({"response_type": "token"}, "unsupported_response_type", "must be 'code'"),
    ],
)
def test_bad_requests_go_back_to_the_client_with_an_error(
    short_codes: RunningServer, changes: dict[str, str], error: str, words: str
) -> None:
    query = request_of(secrets.token_urlsafe(48), **changes)
    answer = httpx.get(f"{short_codes.url}/oauth/authorize", params=query)
    assert answer.status_code == 303
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "127.0.0.1:49152"
    fields = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert fields["error"] == error and words in fields["error_description"]
    assert fields["state"] == query["state"]
    assert "code" not in fields


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"redirect_uri": "http://localhost:49152/callback"}, "use the loopback address itself"),
        ({"redirect_uri": "http://evil.example/callback"}, "not on this computer's loopback"),
        ({"redirect_uri": "http://10.0.0.1:80/cb"}, "not on this computer's loopback"),
        ({"redirect_uri": "https://127.0.0.1:9/cb"}, "plain http URL"),
        ({"redirect_uri": "http://x@127.0.0.1:9/cb"}, "plain http URL"),
        ({"redirect_uri": "http://127.0.0.1.evil.example/cb"}, "not on this computer's loopback"),
        ({"redirect_uri": "-"}, "redirect_uri is missing"),
        ({"client_id": "someone-else"}, "client_id 'someone-else' is unknown"),
    ],
)
def test_untrusted_clients_and_redirects_get_a_page_never_a_redirect(
    short_codes: RunningServer, changes: dict[str, str], words: str
) -> None:
    query = request_of(secrets.token_urlsafe(48), **changes)
    answer = httpx.get(f"{short_codes.url}/oauth/authorize", params=query)
    assert answer.status_code == 400, answer.text
    assert "location" not in answer.headers
    text = html.unescape(answer.text)
    assert "This login link is not valid" in text and words in text


def test_any_loopback_port_and_ipv6(short_codes: RunningServer, person: Person) -> None:
    for uri in ("http://127.0.0.1:1/x", "http://[::1]:65535/callback"):
        verifier = secrets.token_urlsafe(48)
        code = person.approve(request_of(verifier, redirect_uri=uri))["code"]
        tokens = exchange(short_codes.url, code, verifier, redirect_uri=uri)
        assert tokens.status_code == 200, tokens.text


def test_denied_goes_back_as_access_denied(person: Person) -> None:
    query = request_of(secrets.token_urlsafe(48))
    answer = person.approve(query, decision="deny")
    assert answer == {
        "error": "access_denied",
        "error_description": "the login was denied",
        "state": query["state"],
    }


def test_the_approval_needs_the_session_and_its_csrf(short_codes: RunningServer) -> None:
    query = request_of(secrets.token_urlsafe(48))
    forged = httpx.post(
        f"{short_codes.url}/oauth/authorize", data={**query, "csrf": "x", "decision": "approve"}
    )
    assert forged.status_code == 403 and "location" not in forged.headers


def test_next_never_leaves_the_site(short_codes: RunningServer) -> None:
    visitor = httpx.Client(base_url=short_codes.url)
    page = visitor.get("/oauth/login")
    for target in ("https://evil.example/", "//evil.example/oauth/authorize?", "/ui/"):
        signed = visitor.post(
            "/oauth/login",
            data={
                "csrf": csrf_of(page.text),
                "next": target,
                "code": "",
                "username": "admin",
                "password": ADMIN_PASSWORD,
            },
        )
        assert signed.status_code == 303
        assert signed.headers["location"].startswith("/oauth/login?code="), target
        page = visitor.get(signed.headers["location"])
