"""``rise profile``: servers side by side, and what a command talks to (flag > env > file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rtoml

from tests.server.conftest import USER_PASSWORD, RunningServer
from tests.server.conftest import server as server
from tests.support.rise_cli import RiseCli
from tests.support.tls import TlsProxy, private_ca
from tests.support.waiting import free_port


@pytest.fixture
def rise(tmp_path: Path) -> RiseCli:
    return RiseCli(tmp_path / "xdg")


@pytest.fixture
def nowhere() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def test_add_use_list_remove(server: RunningServer, rise: RiseCli, nowhere: str):
    assert rise.ok("profile", "add", "local", server.url) == (
        f"Added profile 'local' for {server.url}.\nLog in with: rise --profile local login\n"
    )
    rise.ok(
        "--profile", "local", "login", "-u", "admin", "--password-stdin", input="admin-password-1\n"
    )
    rise.ok("profile", "add", "other", nowhere)
    listed = rise.ok("profile", "ls").splitlines()
    assert listed[0].split() == ["CURRENT", "PROFILE", "URL", "USER"]
    assert listed[1].split() == ["*", "local", server.url, "admin"]  # the first one is current
    assert listed[2].split() == ["other", nowhere, "(logged", "out)"]
    rows = json.loads(rise.ok("profile", "ls", "-o", "json"))
    assert [(r["name"], r["current"], r["logged_in"]) for r in rows] == [
        ("local", True, True),
        ("other", False, False),
    ]
    assert "token" not in json.dumps(rows)
    assert "admin" in rise.ok("whoami")

    assert rise.ok("profile", "use", "other") == f"Now using profile 'other' ({nowhere}).\n"
    assert f"you are not logged in to {nowhere}" in rise.fails(3, "whoami")
    assert "hint: did you mean 'other'?" in rise.fails(4, "profile", "use", "othre")
    assert "exists already" in rise.fails(2, "profile", "add", "other", nowhere)

    assert rise.ok("profile", "rm", "other") == "Removed profile 'other'.\n"
    saved = rtoml.loads(rise.config_file.read_text())
    assert saved["current"] == "local" and list(saved["profiles"]) == ["local"]
    assert "admin" in rise.ok("whoami")


def test_login_keeps_one_login_per_profile(server: RunningServer, rise: RiseCli):
    server.user("niklas")
    rise.login(server)
    rise.login(server, "niklas", USER_PASSWORD, profile="niklas")
    assert "user:   admin" in rise.ok("whoami")
    assert "user:   niklas" in rise.ok("--profile", "niklas", "whoami")
    assert "user:   niklas" in rise.ok("whoami", RISE_PROFILE="niklas")
    rise.ok("--profile", "niklas", "logout")
    assert "user:   admin" in rise.ok("whoami")


def test_precedence_is_flag_then_environment_then_file(
    server: RunningServer, rise: RiseCli, nowhere: str
):
    server.user("niklas")
    rise.login(server)  # the file: profile default -> the server, as admin
    rise.login(server, "niklas", USER_PASSWORD, profile="niklas")
    rise.ok("profile", "use", "default")

    # server: RISE_URL beats the file; --url beats RISE_URL. (The login stays with its
    # server, so elsewhere the command is not logged in.)
    assert f"not logged in to {nowhere}" in rise.fails(3, "whoami", RISE_URL=nowhere)
    assert "user:   admin" in rise.ok("--url", server.url, "whoami", RISE_URL=nowhere)
    assert f"not logged in to {nowhere}" in rise.fails(3, "--url", nowhere, "whoami")
    token = server.admin().token
    assert token is not None
    assert f"cannot reach the rise server at {nowhere}" in rise.fails(
        6, "whoami", RISE_URL=nowhere, RISE_TOKEN=token
    )
    # profile: RISE_PROFILE beats the file's current; --profile beats RISE_PROFILE.
    assert "user:   niklas" in rise.ok("whoami", RISE_PROFILE="niklas")
    assert "user:   admin" in rise.ok("--profile", "default", "whoami", RISE_PROFILE="niklas")
    # token: RISE_TOKEN beats the profile's login.
    niklas_token = server.user("niklas").token
    assert niklas_token is not None
    assert "user:   niklas" in rise.ok("whoami", RISE_TOKEN=niklas_token)


def test_a_stored_login_is_never_sent_to_another_server(
    server: RunningServer, rise: RiseCli, tmp_path: Path
):
    rise.login(server)
    other = f"http://localhost:{server.port}"  # the same server under another name
    err = rise.fails(3, "--url", other, "whoami")
    assert f"you are not logged in to {other}" in err


@pytest.mark.parametrize(
    "args",
    [
        ("login", "http://rise.example.com", "--password-stdin", "-u", "admin"),
        ("profile", "add", "lan", "http://10.1.2.3:8000"),
        ("--url", "http://10.1.2.3:8000", "project", "list"),
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(rise: RiseCli, args: tuple[str, ...]):
    err = rise.fails(2, *args, input="secret-password\n")
    host = "rise.example.com" if "rise.example.com" in args[1] else "10.1.2.3"
    assert f"refusing plain http to {host}" in err
    assert "--allow-http" in err
    assert not rise.config_file.exists()


def test_allow_http_is_remembered_per_profile(rise: RiseCli, nowhere: str):
    lan = "http://10.1.2.3:9"
    rise.ok("profile", "add", "lan", lan, "--allow-http")
    saved = rtoml.loads(rise.config_file.read_text())["profiles"]["lan"]
    assert saved == {"url": lan, "allow_http": True}
    # Allowed, so the command gets as far as "not logged in" (no request is sent).
    assert f"you are not logged in to {lan}" in rise.fails(3, "project", "list")


def test_a_private_ca_is_trusted_with_its_bundle_only(
    server: RunningServer, rise: RiseCli, tmp_path: Path
):
    ca = private_ca(tmp_path / "tls")
    with TlsProxy(server.port, ca) as proxy:
        login = ("login", "-u", "admin", "--password-stdin")
        err = rise.fails(6, *login, proxy.url, input="admin-password-1\n")
        assert "certificate verify failed" in err
        assert "hint: if it uses a private CA, give its certificates with --ca-bundle" in err
        rise.ok("profile", "add", "corp", proxy.url, "--ca-bundle", str(ca.ca_file))
        rise.ok("--profile", "corp", *login, input="admin-password-1\n")
        assert f"server: {proxy.url}" in rise.ok("--profile", "corp", "whoami")
        assert "PROJECT" in rise.ok("--profile", "corp", "p", "ls")
        saved = rtoml.loads(rise.config_file.read_text())["profiles"]["corp"]
        assert saved["ca_bundle"] == str(ca.ca_file)
