"""Local authentication over real HTTP: login, refresh, lockout, forged tokens, Basic."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tests.server.conftest import USER_PASSWORD, RunningServer


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256(header: dict[str, object], claims: dict[str, object], secret: bytes) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the public key."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _server_key(server: RunningServer) -> ECKey:
    return ECKey.import_key(next((server.data_dir / "keys").glob("jwt-*.pem")).read_bytes())


def _me(server: RunningServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_login_gives_a_short_lived_token_verifiable_with_the_jwks(server: RunningServer) -> None:
    server.user("carol")
    response = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "carol", "password": USER_PASSWORD}
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"

    jwks = httpx.get(f"{server.url}/.well-known/jwks.json").json()
    assert all("d" not in key for key in jwks["keys"])  # public halves only
    decoded = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    claims = decoded.claims
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("carol", "rise", "rise-api")
    assert claims["exp"] - claims["iat"] == 900
    assert decoded.header["kid"] == jwks["keys"][0]["kid"]

    me = _me(server, body["access_token"]).json()
    assert (me["username"], me["is_admin"], me["kind"]) == ("carol", False, "user")
    assert server.admin().ok("GET", "/api/v1/me")["is_admin"] is True


def test_wrong_passwords_lock_the_account_for_a_while(server: RunningServer) -> None:
    server.user("mallory")
    login = f"{server.url}/api/v1/auth/login"
    for _ in range(5):
        wrong = httpx.post(login, json={"username": "mallory", "password": "guess-guess"})
        assert wrong.status_code == 401
        assert wrong.json()["message"] == "wrong username or password"
    locked = httpx.post(login, json={"username": "mallory", "password": USER_PASSWORD})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 300
    unknown = httpx.post(login, json={"username": "nobody-at-all", "password": "guess-guess"})
    assert unknown.json() == {**unknown.json(), "message": "wrong username or password"}


def test_refresh_works_until_the_password_changes(server: RunningServer) -> None:
    dave = server.user("dave")
    tokens = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "dave", "password": USER_PASSWORD}
    ).json()
    refresh = f"{server.url}/api/v1/auth/refresh"
    renewed = httpx.post(refresh, json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    assert _me(server, renewed.json()["access_token"]).json()["username"] == "dave"
    # An access token is not a refresh token, nor the other way round.
    assert httpx.post(refresh, json={"refresh_token": tokens["access_token"]}).status_code == 401
    assert _me(server, tokens["refresh_token"]).status_code == 401

    wrong = dave.put(
        "/api/v1/users/me/password",
        json={"current_password": "not-it-at-all", "new_password": "new-password-2"},
    )
    assert wrong.status_code == 403
    dave.ok(
        "PUT",
        "/api/v1/users/me/password",
        {"current_password": USER_PASSWORD, "new_password": "new-password-2"},
    )
    revoked = httpx.post(refresh, json={"refresh_token": tokens["refresh_token"]})
    assert revoked.status_code == 401
    assert "password changed" in revoked.json()["message"]
    assert server.login("dave", "new-password-2").username == "dave"


def test_forged_and_foreign_tokens_are_refused(server: RunningServer) -> None:
    server.user("erin")
    key = _server_key(server)
    now = int(time.time())
    good = {"iss": "rise", "aud": "rise-api", "sub": "erin", "iat": now, "exp": now + 60}
    good["pwv"] = 1  # the password version: a password change revokes the token
    header = {"alg": "ES256", "kid": key.thumbprint()}
    assert _me(server, jwt.encode(header, good, key)).status_code == 200  # the control

    stranger = ECKey.generate_key("P-256")
    cases = {
        "alg none": f"{_b64({'alg': 'none', 'kid': key.thumbprint()})}.{_b64(good)}.",
        "expired": jwt.encode(header, {**good, "iat": now - 7200, "exp": now - 3600}, key),
        "wrong issuer": jwt.encode(header, {**good, "iss": "https://evil.example"}, key),
        "wrong audience": jwt.encode(header, {**good, "aud": "someone-else"}, key),
        "no subject": jwt.encode(header, {k: v for k, v in good.items() if k != "sub"}, key),
        "no expiry": jwt.encode(header, {k: v for k, v in good.items() if k != "exp"}, key),
        "unknown kid": jwt.encode({"alg": "ES256", "kid": "nope"}, good, stranger),
        "wrong key, right kid": jwt.encode(header, good, stranger),
        "hmac with the public key": _hs256(
            {"alg": "HS256", "kid": key.thumbprint()}, good, key.as_pem(private=False)
        ),
        "tampered": jwt.encode(header, good, key)[:-6] + "AAAAAA",
    }
    for case, token in cases.items():
        response = _me(server, token)
        assert response.status_code == 401, case
        assert response.json()["error"] == "unauthorized", case
    assert "expired" in _me(server, cases["expired"]).json()["message"]
    assert "issued by" in _me(server, cases["wrong issuer"]).json()["message"]
    # Each refusal names its real cause: a token without 'exp' was not issued elsewhere.
    assert _me(server, cases["no expiry"]).json()["message"] == "token has no 'exp' claim"
    assert _me(server, cases["no subject"]).json()["message"] == "token has no 'sub' claim"


def test_basic_auth_takes_a_password_or_a_token(server: RunningServer) -> None:
    frank = server.user("frank")

    def basic(user: str, secret: str) -> httpx.Response:
        raw = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Basic {raw}"})

    assert basic("frank", USER_PASSWORD).json()["username"] == "frank"
    assert basic("frank", frank.token or "").json()["username"] == "frank"
    assert basic("frank", "wrong-password").status_code == 401
    assert basic("someone", frank.token or "").status_code == 401  # token of another user


def test_only_admins_manage_users(server: RunningServer) -> None:
    grace = server.user("grace")
    refused = grace.post("/api/v1/users", json={"username": "heidi", "password": "long-enough"})
    assert refused.status_code == 403
    assert grace.get("/api/v1/users").status_code == 403
    admin = server.admin()
    assert "grace" in [u["username"] for u in admin.ok("GET", "/api/v1/users")]
    short = admin.post("/api/v1/users", json={"username": "heidi", "password": "short"})
    assert short.status_code == 400 and "8 to 1024" in short.json()["message"]
    admin.ok("PUT", "/api/v1/users/grace/password", {"new_password": "reset-by-admin"})
    assert grace.get("/api/v1/me").status_code == 401  # the reset revoked her old token
    grace = server.login("grace", "reset-by-admin")
    assert (
        grace.put("/api/v1/users/admin/password", json={"new_password": "taken-over!"}).status_code
        == 403
    )


def test_the_auth_config_says_which_logins_are_on(server: RunningServer) -> None:
    config = httpx.get(f"{server.url}/api/v1/auth/config").json()
    assert config == {
        "local": True,
        "oidc": [],
        "trusted_issuers": [],
        "device_authorization_endpoint": "/oauth/device/code",
        "authorization_endpoint": "/oauth/authorize",
    }
