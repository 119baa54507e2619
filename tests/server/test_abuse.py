"""Abuse and resource limits (issue 14, items 12-14), as the attacker would try them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from reconciler.state import StateRepo
from reconciler.state.handles import MAX_HANDLES
from tests.server.conftest import (
    ADMIN_PASSWORD,
    WEBHOOK_SECRET,
    RunningServer,
    image,
    start_server,
)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _from(address: str, url: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is loopback)."""
    return httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=60
    )


def test_an_anonymous_login_flood_is_bounded_and_cannot_lock_the_admin_out(
    tmp_path: Path,
) -> None:
    burst = 20
    server = start_server(
        tmp_path / "data",
        {"RISE_AUTH__LOCAL__LOGIN_BURST": str(burst), "RISE_AUTH__LOCAL__LOGIN_PER_SECOND": "1"},
    )
    try:
        before = _rss_mb(server.process.pid)
        attacker = _from("127.0.0.1", server.url)
        wrong = {"username": "admin", "password": "guess-guess"}
        guesses = [attacker.post("/api/v1/auth/login", json=wrong).status_code for _ in range(8)]
        assert guesses == [401] * 5 + [429] * 3  # the admin name is locked — for this client

        def attempt(n: int) -> int:
            login = {"username": f"someone-{n}", "password": "guess-guess"}
            return attacker.post("/api/v1/auth/login", json=login).status_code

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = Counter(pool.map(attempt, range(400)))
        # Only the rest of the client's burst reached a hash; the others were turned away first.
        assert set(statuses) <= {401, 429}, statuses
        assert statuses[401] <= burst - 5, statuses
        assert statuses[429] >= 400 - burst, statuses
        assert _rss_mb(server.process.pid) - before < 150
        throttled = attacker.post("/api/v1/auth/login", json=wrong)
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1

        # The admin, from anywhere else, logs in at once: the lockout is the attacker's own.
        with _from("127.0.0.2", server.url) as admin:
            login = {"username": "admin", "password": ADMIN_PASSWORD}
            assert admin.post("/api/v1/auth/login", json=login).status_code == 200
    finally:
        server.terminate()


def test_a_burst_of_history_reads_shares_a_few_git_handles(server: RunningServer) -> None:
    owner = server.user("reader13")
    owner.ok("POST", "/api/v1/projects", {"name": "busy13"}, 201)
    for n in range(5):
        body = {"image": image("busy13", n)}
        owner.ok("POST", "/api/v1/projects/busy13/deployments", body, 201)
    repo = StateRepo(server.state_repo)

    def read(_: int) -> int:
        return len(repo.history("projects/busy13/deployment.toml"))

    with ThreadPoolExecutor(max_workers=64) as pool:
        assert set(pool.map(read, range(640))) == {5}
    assert repo.handles_open <= MAX_HANDLES
    # Over HTTP the same: a burst of reads from many clients answers every one.
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = set(
            pool.map(
                lambda _: owner.get("/api/v1/projects/busy13/deployments").status_code, range(200)
            )
        )
    assert statuses == {200}


def _push(server: RunningServer, payload: dict[str, object], delivery: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{server.url}/webhooks/git",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
        },
    )


def test_a_push_of_another_repository_triggers_no_work(server: RunningServer) -> None:
    foreign = {
        "ref": "refs/heads/main",
        "after": "f" * 40,
        "repository": {
            "full_name": "someone/unrelated",
            "clone_url": "https://git.example.com/someone/unrelated.git",
        },
    }
    answer = _push(server, foreign, "delivery-foreign-1")
    assert answer.status_code == 202
    assert answer.json()["reconcile"] is False
    assert "not the state repository" in answer.json()["reason"]
    # Delivery ids are kept by a fixed-size digest, however long the header.
    huge = _push(server, foreign, "d" * 8000)
    assert huge.status_code == 202 and huge.json()["delivery"] is not None
    again = _push(server, foreign, "d" * 8000)
    assert again.json()["duplicate"] is True
