"""``rise login|logout|whoami`` against a running server, as a user types them."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pexpect
import pytest
import rtoml

from reconciler.server.tokens import LEEWAY_SECONDS
from tests.server.conftest import ADMIN_PASSWORD, USER_PASSWORD, RunningServer, start_server
from tests.server.conftest import server as server
from tests.support.rise_cli import TREE, RiseCli

TTL = 30  # the shortest access-token lifetime the server accepts


@pytest.fixture
def rise(tmp_path: Path) -> RiseCli:
    return RiseCli(tmp_path / "xdg")


def test_password_on_stdin_logs_in_and_whoami_answers(server: RunningServer, rise: RiseCli):
    out = rise.login(server)
    assert out == "Login successful! Welcome back, admin!\n"
    assert ADMIN_PASSWORD not in out
    assert "user:   admin (admin)" in rise.ok("whoami")
    mode = stat.S_IMODE(rise.config_file.stat().st_mode)
    assert mode == 0o600
    saved = rtoml.loads(rise.config_file.read_text())
    profile = saved["profiles"]["default"]
    assert profile["url"] == server.url and profile["username"] == "admin"
    assert profile["access_token"] and profile["refresh_token"]
    assert ADMIN_PASSWORD not in rise.config_file.read_text()


def test_logout_forgets_the_tokens(server: RunningServer, rise: RiseCli):
    rise.login(server)
    assert rise.ok("logout") == f"Logged out of {server.url}.\n"
    assert "token" not in rise.config_file.read_text()
    err = rise.fails(3, "whoami")
    assert f"you are not logged in to {server.url}" in err
    assert f"hint: run 'rise login {server.url}'" in err
    assert rise.ok("logout") == f"Not logged in to {server.url}.\n"


def test_wrong_password_is_refused_with_exit_3(server: RunningServer, rise: RiseCli):
    err = rise.fails(3, "login", server.url, "-u", "admin", "--password-stdin", input="nope\n")
    assert "wrong username or password" in err
    assert not rise.config_file.exists()


def test_prompts_for_username_and_hidden_password_in_a_terminal(
    server: RunningServer, rise: RiseCli
):
    server.user("niklas")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cli.main", "login", server.url, "--password"],
        env=rise.env(),
        cwd=str(TREE),
        encoding="utf-8",
        timeout=60,
    )
    child.expect("Username: ")
    child.sendline("niklas")
    child.expect("Password: ")
    child.sendline(USER_PASSWORD)
    child.expect(pexpect.EOF)
    transcript = child.before
    child.close()
    assert child.exitstatus == 0, transcript
    assert "Login successful! Welcome back, niklas!" in transcript
    assert USER_PASSWORD not in transcript  # not echoed
    assert "user:   niklas" in rise.ok("whoami")


def test_token_from_stdin_and_from_the_environment(server: RunningServer, rise: RiseCli):
    token = server.admin().token
    assert token is not None
    assert rise.ok("login", server.url, "--token", input=token + "\n").startswith(
        "Login successful! Welcome back, admin!"
    )
    assert token not in rise.ok("whoami")
    # CI: RISE_URL + RISE_TOKEN, nothing stored.
    ci = RiseCli(rise.home.parent / "ci")
    assert "user:   admin" in ci.ok("whoami", RISE_URL=server.url, RISE_TOKEN=token)
    assert not ci.config_file.exists()


@pytest.mark.slow
def test_an_expired_access_token_is_refreshed_silently(tmp_path: Path, rise: RiseCli):
    short = start_server(tmp_path / "data", {"RISE_AUTH__ACCESS_TOKEN_TTL": str(TTL)})
    try:
        rise.login(short)
        before = rtoml.loads(rise.config_file.read_text())["profiles"]["default"]
        # The shortest TTL the server takes, plus the leeway it grants for clock skew.
        time.sleep(TTL + LEEWAY_SECONDS + 1)
        result = rise.run("whoami")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # silent
        after = rtoml.loads(rise.config_file.read_text())["profiles"]["default"]
        assert after["access_token"] != before["access_token"]
        for token in (before["access_token"], after["access_token"], after["refresh_token"]):
            assert token not in result.stdout
    finally:
        short.terminate()


def test_warns_once_per_server_version_of_another_minor(tmp_path: Path, rise: RiseCli):
    # A server that reports 99.1.0: its package metadata comes first on its sys.path.
    newer = tmp_path / "newer"
    dist = newer / "rise_deploy-99.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rise-deploy\nVersion: 99.1.0\n")
    # Started from `newer`, not the tree: an editable install leaves rise_deploy.egg-info
    # (0.1.0) at the tree's root, which `python -m` would find first.
    pythonpath = os.pathsep.join([str(newer), str(TREE)])
    other = start_server(tmp_path / "data", {"PYTHONPATH": pythonpath}, cwd=newer)
    try:
        login = ("login", other.url, "-u", "admin", "--password-stdin")
        first = rise.run(*login, input=ADMIN_PASSWORD + "\n")
        assert first.returncode == 0, first.stderr
        assert f"warning: the server at {other.url} runs rise 99.1.0" in first.stderr
        assert "install rise 99.1 to match" in first.stderr
        again = rise.run(*login, input=ADMIN_PASSWORD + "\n")
        assert again.returncode == 0 and "warning" not in again.stderr
        saved = rtoml.loads(rise.config_file.read_text())["profiles"]["default"]
        assert saved["warned_version"] == "99.1.0"
    finally:
        other.terminate()


def test_same_minor_version_gives_no_warning(server: RunningServer, rise: RiseCli):
    result = rise.run(
        "login", server.url, "-u", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n"
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "warned_version" not in rise.config_file.read_text()
