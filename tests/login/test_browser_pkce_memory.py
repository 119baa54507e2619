"""Device codes, user codes and authorization codes live in the server's memory only.

Every login flow is run through a real server (pending, approved and redeemed codes of both
grants); then no file under the data directory, no object of the state repository (loose or
packed, decompressed by git itself) and no line of the server's log holds any of the codes,
raw or as the SHA-256 the server keys them by, and the state branch did not move.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from tests.login.conftest import FAST, LoginPage, poll, start_device_login
from tests.login.test_browser_pkce_refusals import Person, exchange, request_of
from tests.server.conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("memory") / "data", FAST)
    yield running
    running.terminate()


def _needles(codes: list[str]) -> list[bytes]:
    forms = []
    for code in codes:
        forms += [code, code.replace("-", ""), hashlib.sha256(code.encode()).hexdigest()]
    return [form.encode() for form in forms]


def _state_objects(repo_path: Path) -> Iterator[tuple[str, bytes]]:
    repo = pygit2.Repository(str(repo_path))
    for oid in repo.odb:
        yield str(oid), repo.odb.read(oid)[1]


def test_no_code_reaches_the_disk_or_the_state_repo(server: RunningServer) -> None:
    repo = pygit2.Repository(str(server.state_repo))
    refs_before = {name: str(repo.references[name].target) for name in repo.references}

    pending = start_device_login(server.url)
    approved = start_device_login(server.url)
    LoginPage(server.url).decide(approved["user_code"], "approve")
    assert poll(server.url, approved["device_code"]).status_code == 200

    person = Person(server.url)
    verifier = secrets.token_urlsafe(48)
    waiting = person.approve(request_of(verifier))["code"]
    redeemed = person.approve(request_of(verifier))["code"]
    assert exchange(server.url, redeemed, verifier).status_code == 200

    codes = [
        pending["device_code"],
        pending["user_code"],
        approved["device_code"],
        approved["user_code"],
        waiting,
        redeemed,
    ]
    needles = _needles(codes)
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(n in content for n in needles), f"a login code is in {path}"
    for oid, data in _state_objects(server.state_repo):
        assert not any(n in data for n in needles), f"a login code is in state object {oid}"
    log = server.log().encode()
    assert not any(n in log for n in needles), "a login code is in the server log"

    repo = pygit2.Repository(str(server.state_repo))
    assert {name: str(repo.references[name].target) for name in repo.references} == refs_before
