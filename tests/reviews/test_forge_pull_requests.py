"""Pull requests of a state repo on GitHub, Gitea and GitLab: one comment with the rendered,
secrets-masked diff, edited in place on the next push; a commit status; a merge reconciles.

The state repo is served over real git smart HTTP (`git http-backend`), the forge API by a
loopback double that records each request; `rise server` runs as an operator starts it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.secrets import SecretBox
from reconciler.state import Author, Edit, StateRepo
from reconciler.state.trees import changed_paths
from tests.server.conftest import WEBHOOK_SECRET, RunningServer, image, start_server
from tests.support.forge import ForgeDouble
from tests.support.git_http import GitHTTPServer
from tests.support.waiting import eventually

FORGE_TOKEN = "forge-token-1"
GIT_PASSWORD = "git-password-1"
PULL = 7
SECRET_BEFORE, SECRET_AFTER = "s3cr3t-before-value", "s3cr3t-after-value"
EVENTS = {"github": "pull_request", "gitea": "pull_request", "gitlab": "Merge Request Hook"}


def _headers(kind: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    event = EVENTS[kind]
    return {
        "github": {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={digest}",
        },
        "gitea": {
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": str(uuid.uuid4()),
            "X-Gitea-Signature": digest,
        },
        "gitlab": {
            "X-Gitlab-Event": event,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Token": WEBHOOK_SECRET,
        },
    }[kind]


def _event(kind: str, head: str, action: str, merged: bool = False) -> bytes:
    if kind == "gitlab":
        attrs = {"iid": PULL, "action": action, "last_commit": {"id": head}}
        attrs |= {"target_branch": "main", "source_branch": "bump", "state": "opened"}
        return json.dumps({"object_kind": "merge_request", "object_attributes": attrs}).encode()
    pull = {"number": PULL, "head": {"sha": head, "ref": "bump"}, "base": {"ref": "main"}}
    payload = {"action": action, "number": PULL, "pull_request": {**pull, "merged": merged}}
    return json.dumps(payload).encode()


def _deliver(server: RunningServer, kind: str, body: bytes) -> dict[str, object]:
    answer = httpx.post(f"{server.url}/webhooks/git", content=body, headers=_headers(kind, body))
    assert answer.status_code == 202, answer.text
    return answer.json()


class Setup:
    def __init__(self, tmp: Path, kind: str):
        self.kind = kind
        self.forge_repo = StateRepo.init(tmp / "forge" / "state.git")
        self.git = GitHTTPServer(tmp / "forge", "rise", GIT_PASSWORD).__enter__()
        self.forge = ForgeDouble(kind, "team/state", FORGE_TOKEN).__enter__()
        for n in range(120):  # people talk first: rise's comment is on page 2
            self.forge.add_comment(PULL, f"looks good {n}")
        config = tmp / "rise.toml"
        config.write_text(
            f'[state]\nurl = "{self.git.url}/state.git"\nusername = "rise"\n'
            'password_env = "RISE_TEST_GIT_PASSWORD"\n'
            f'[forge]\nkind = "{kind}"\napi_url = "{self.forge.url}"\n'
            'repository = "team/state"\ntoken_env = "RISE_TEST_FORGE_TOKEN"\n'
            "comment_max_lines = 200\n"
        )
        env = {"RISE_TEST_GIT_PASSWORD": GIT_PASSWORD, "RISE_TEST_FORGE_TOKEN": FORGE_TOKEN}
        self.server = start_server(tmp / "data", env, ("--config", str(config)))
        self.box = SecretBox.from_file(tmp / "data" / "secrets.key")

    def close(self) -> None:
        self.server.terminate()
        self.forge.__exit__()
        self.git.__exit__()

    def propose(self, n: int, secret: str, parent: str | None) -> str:
        """A pull request's head as a fork's would be: only under the forge's pull ref."""
        pull_ref = "refs/merge-requests" if self.kind == "gitlab" else "refs/pull"
        ciphertext = self.box.encrypt("shop", "API_KEY", secret)

        def change(edit: Edit) -> str:
            path = "projects/shop/deployment.toml"
            text = (edit.read(path) or b"").decode()
            edit.write(path, re.sub(r'(?m)^image = ".*"$', f'image = "{image("shop", n)}"', text))
            edit.write("projects/shop/env.toml", f'[secrets]\nAPI_KEY = "{ciphertext}"\n')
            return f"shop: build {n} and a new key"

        branch = f"scratch-{n}"
        start = parent or self.forge_repo.head()
        head = self.forge_repo.commit(change, Author("pat"), branch=branch, start=start).commit
        assert head is not None
        self.forge_repo.git.references.create(f"{pull_ref}/{PULL}/head", head, force=True)
        self.forge_repo.delete_branch(branch)
        return head


@pytest.fixture(params=["github", "gitea", "gitlab"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path, request.param)
    try:
        yield made
    finally:
        made.close()


def _rise_comments(forge: ForgeDouble) -> list[str]:
    return [c["body"] for c in forge.comments[PULL] if c["body"].startswith("<!-- rise:")]


def test_one_comment_updated_in_place_with_secrets_masked(setup: Setup) -> None:
    server, forge = setup.server, setup.forge
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "shop"}, 201)
    admin.ok("PUT", "/api/v1/projects/shop/env/API_KEY", {"value": SECRET_BEFORE, "secret": True})
    admin.ok("POST", "/api/v1/projects/shop/deployments", {"image": image("shop", 1)}, 201)

    first = setup.propose(2, SECRET_AFTER, None)
    opened = "open" if setup.kind == "gitlab" else "opened"
    answer = _deliver(server, setup.kind, _event(setup.kind, first, opened))
    assert answer["reason"] == f"reviewing #{PULL} at {first[:12]}"
    comment = eventually(lambda: next(iter(_rise_comments(forge)), None), timeout=90)
    assert first[:12] in comment and "**Valid**" in comment
    assert image("shop", 2) in comment and "~ Secret rise-shop/" in comment
    assert "******** (after)" in comment

    second = setup.propose(3, SECRET_AFTER, first)
    pushed = "update" if setup.kind == "gitlab" else "synchronize"
    if setup.kind == "gitea":
        pushed = "synchronized"
    _deliver(server, setup.kind, _event(setup.kind, second, pushed))
    eventually(lambda: second[:12] in _rise_comments(forge)[0], timeout=90)
    assert len(_rise_comments(forge)) == 1
    updated = _rise_comments(forge)[0]
    assert image("shop", 3) in updated and "s3cr3t" not in updated
    notes = r"/(comments|notes)$"
    assert len(forge.calls("POST", notes)) == 1
    assert len(forge.calls("PATCH" if setup.kind != "gitlab" else "PUT", r"/\d+$")) == 1
    for recorded in forge.requests:  # no request to the forge ever carried a secret
        assert "s3cr3t" not in json.dumps(recorded.body)
    success = "success"
    eventually(
        lambda: any(s["sha"] == second and s["state"] == success for s in forge.statuses),
        timeout=90,
    )
    assert any(s["sha"] == first and s["state"] == "pending" for s in forge.statuses)


def test_an_invalid_pull_request_fails_its_status_and_a_merge_reconciles(setup: Setup) -> None:
    server, forge = setup.server, setup.forge
    admin = server.admin()
    admin.ok("POST", "/api/v1/projects", {"name": "shop"}, 201)
    admin.ok("POST", "/api/v1/projects/shop/deployments", {"image": image("shop", 1)}, 201)
    good = setup.propose(2, SECRET_AFTER, None)

    def breaks(edit: Edit) -> str:
        edit.write("projects/shop/deployment.toml", b'replicas = "lots"\n')
        return "break"

    bad = setup.forge_repo.commit(breaks, Author("pat"), branch="bad", start=good).commit
    assert bad is not None
    opened = "open" if setup.kind == "gitlab" else "opened"
    _deliver(server, setup.kind, _event(setup.kind, bad, opened))
    comment = eventually(lambda: next(iter(_rise_comments(forge)), None), timeout=90)
    assert "**Invalid**" in comment and "projects/shop/deployment.toml" in comment
    failure = "failed" if setup.kind == "gitlab" else "failure"
    eventually(
        lambda: any(s["sha"] == bad and s["state"] == failure for s in forge.statuses), timeout=90
    )

    setup.forge_repo.git.references["refs/heads/main"].set_target(good)  # the forge merges
    merged = "merge" if setup.kind == "gitlab" else "closed"
    answer = _deliver(server, setup.kind, _event(setup.kind, good, merged, merged=True))
    assert answer["reconcile"] is True

    def deployed() -> bool:
        if "rendered" not in setup.forge_repo.branches():
            return False
        files = changed_paths(setup.forge_repo, None, "rendered")
        shop = [f for f in files if f.startswith("projects/shop/")]
        return any(
            image("shop", 2).encode() in (setup.forge_repo.read(f, "rendered") or b"") for f in shop
        )

    eventually(deployed, timeout=90)


def test_without_a_forge_pull_request_events_are_answered_and_ignored(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        answer = _deliver(server, "github", _event("github", "a" * 40, "opened"))
        assert answer["reconcile"] is False and "[forge]" in str(answer["reason"])
    finally:
        server.terminate()
