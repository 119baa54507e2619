"""The profiles file and server URLs: parsed strictly, saved privately, never trusted blindly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.config import Config, Profile, check_url
from cli.errors import EXIT_USAGE, CliError
from cli.versions import mismatch
from tests.support.rise_cli import RiseCli

hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}", fullmatch=True)
ports = st.integers(1, 65535)


@given(hosts.filter(lambda h: not h.endswith(".localhost")), ports)
def test_plain_http_is_refused_for_every_non_loopback_host(host: str, port: int):
    with pytest.raises(CliError) as refused:
        check_url(f"http://{host}:{port}")
    assert refused.value.exit_code == EXIT_USAGE
    assert f"refusing plain http to {host}" in str(refused.value)
    assert check_url(f"http://{host}:{port}/", allow_http=True) == f"http://{host}:{port}"
    assert check_url(f"{host}:{port}") == f"https://{host}:{port}"


@given(st.sampled_from(["127.0.0.1", "127.1.2.3", "[::1]", "localhost", "app.localhost"]), ports)
def test_plain_http_to_loopback_is_fine(host: str, port: int):
    assert check_url(f"http://{host}:{port}") == f"http://{host}:{port}"


@given(st.text(max_size=40))
def test_any_text_is_a_url_or_a_usage_error(text: str):
    try:
        url = check_url(text, allow_http=True)
    except CliError as exc:
        assert exc.exit_code == EXIT_USAGE
    else:
        assert url.startswith(("http://", "https://"))


@given(st.from_regex(r"\d+\.\d+\.\d+", fullmatch=True), st.from_regex(r"\d+\.\d+", fullmatch=True))
def test_versions_differ_by_major_or_minor_only(server: str, cli: str):
    patched = f"{cli}.{int(server.split('.')[2]) + 1}"
    assert not mismatch(patched, f"{cli}.0")
    assert mismatch(server, cli + ".0") == (server.split(".")[:2] != cli.split("."))
    assert not mismatch("0+unknown", cli + ".0")


def test_profiles_are_saved_privately_and_read_back(tmp_path: Path):
    path = tmp_path / "rise" / "config.toml"
    config = Config.load(path)
    config.put(Profile("work", url="https://rise.example.com", access_token="a", refresh_token="r"))
    config.put(Profile("lab", url="http://10.0.0.1:8000", allow_http=True, ca_bundle="/ca.pem"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = Config.load(path)
    assert again.current == "work"  # the first profile saved
    assert again.profiles == config.profiles
    again.remove("work")
    assert Config.load(path).current == "lab"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("current = 'x'\n[profiles\n", "cannot read"),
        ("[profiles]\nwork = 'https://rise.example.com'\n", "[profiles.work] must be a table"),
    ],
)
def test_a_broken_config_file_says_where_and_what_to_do(tmp_path: Path, text: str, message: str):
    rise = RiseCli(tmp_path / "xdg")
    rise.config_file.parent.mkdir(parents=True)
    rise.config_file.write_text(text)
    err = rise.fails(EXIT_USAGE, "project", "list")
    assert str(rise.config_file) in err and message in err
    assert f"hint: fix or remove {rise.config_file}" in err
    assert rise.config_file.read_text() == text  # left as it was
