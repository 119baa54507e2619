"""Git webhooks: signatures checked in constant time, 202 first, then a targeted reconcile.

Against the real server the reconcile is observed on /metrics; in-process, through the
controller the test hands to the app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.server.app import create_app
from reconciler.server.config import load_config
from reconciler.server.context import build_context
from reconciler.state import Author, Edit, StateRepo
from tests.server.conftest import WEBHOOK_SECRET, InProcessServer, RunningServer
from tests.support.recording_controller import RecordingController

InProcess = tuple[httpx.Client, RecordingController, StateRepo]
Signer = Callable[[bytes], dict[str, str]]
PROJECT_TOML = 'owner = "user:pusher"\nvisibility = "public"\n'


def _push(after: str = "0" * 40, ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "before": "1" * 40, "after": after}).encode()


def _github(body: bytes, secret: str = WEBHOOK_SECRET, event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def _gitea(body: bytes) -> dict[str, str]:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Gitea-Event": "push",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": digest,
    }


def _gitlab(body: bytes, token: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Token": token,
    }


def _direct_commit(path: Path, project: str) -> str:
    """What a `git push` to the state repo does: a commit the server did not make."""

    def change(edit: Edit) -> str:
        edit.write(f"projects/{project}/project.toml", PROJECT_TOML)
        return f"add {project} by hand"

    commit = StateRepo(path).commit(change, Author("pusher")).commit
    assert commit is not None
    return commit


def _signals(server: RunningServer) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    match = re.search(r"^rise_reconcile_signals_total (\d+)$", text, re.M)
    assert match, text
    return int(match.group(1))


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("sign", [_github, _gitea, _gitlab])
def test_a_signed_push_is_answered_202_then_reconciled(server: RunningServer, sign: Signer) -> None:
    before = _signals(server)
    commit = _direct_commit(server.state_repo, f"pushed-{sign.__name__.strip('_')}")
    body = _push(commit)
    response = httpx.post(f"{server.url}/webhooks/git", content=body, headers=sign(body))
    assert response.status_code == 202, response.text
    assert response.json()["reconcile"] is True
    _wait_for(lambda: _signals(server) == before + 1)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (_github(_push(), secret="wrong-secret"), _push(), 401),
        ({"X-GitHub-Event": "push"}, _push(), 401),
        (_github(_push(after="f" * 40)), _push(), 401),  # signature of another body
        (_gitlab(_push(), token="wrong-token"), _push(), 401),
        (_github(b"{not json"), b"{not json", 400),
        (_github(b"[1, 2]"), b"[1, 2]", 400),
        ({"X-Unknown-Event": "push"}, _push(), 400),
    ],
    ids=[
        "wrong-secret",
        "unsigned",
        "other-body",
        "gitlab-token",
        "malformed",
        "array",
        "unknown-sender",
    ],
)
def test_bad_deliveries_are_refused_and_reconcile_nothing(
    server: RunningServer, headers: dict[str, str], body: bytes, status: int
) -> None:
    before = _signals(server)
    _direct_commit(server.state_repo, f"refused-{uuid.uuid4().hex[:8]}")
    response = httpx.post(f"{server.url}/webhooks/git", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] in {"invalid_signature", "invalid_json", "unknown_sender"}
    time.sleep(0.3)  # the refresher would have signalled by now
    assert _signals(server) == before


def test_an_oversized_body_is_refused_before_it_is_read(server: RunningServer) -> None:
    body = b'{"pad": "' + b"x" * (1 << 20) + b'"}'
    response = httpx.post(f"{server.url}/webhooks/git", content=body, headers=_github(body))
    assert response.status_code == 413


def test_a_redelivery_is_ignored_and_a_ping_is_answered(server: RunningServer) -> None:
    body = _push()
    headers = _github(body)
    first = httpx.post(f"{server.url}/webhooks/git", content=body, headers=headers)
    again = httpx.post(f"{server.url}/webhooks/git", content=body, headers=headers)
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    ping = httpx.post(
        f"{server.url}/webhooks/git", content=b"{}", headers=_github(b"{}", event="ping")
    )
    assert (ping.status_code, ping.json()["reason"]) == (200, "pong")


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[InProcess]:
    config = load_config(flags={"data_dir": str(tmp_path / "data")})
    controller = RecordingController()
    ctx = build_context(
        config,
        {"RISE_ADMIN_PASSWORD": "admin-password-1", "RISE_WEBHOOK_SECRET": WEBHOOK_SECRET},
        controller=controller,
    )
    with InProcessServer(create_app(ctx)) as client:
        yield client, controller, ctx.store.repo
    assert controller.running is False  # shutdown stopped the loop


def test_the_reconcile_covers_only_the_projects_the_push_changed(in_process: InProcess) -> None:
    client, controller, repo = in_process
    _direct_commit(Path(repo.path), "first")
    body = _push()
    assert client.post("/webhooks/git", content=body, headers=_github(body)).status_code == 202
    _wait_for(lambda: len(controller.signals) == 1)
    assert controller.signals[0].projects == {"first"}
    assert controller.signals[0].reason.startswith("github push")

    _direct_commit(Path(repo.path), "second")
    body = _push(after="2" * 40)
    assert client.post("/webhooks/git", content=body, headers=_gitlab(body)).status_code == 202
    _wait_for(lambda: len(controller.signals) == 2)
    assert controller.signals[1].projects == {"second"}


def test_pushes_to_other_branches_and_unchanged_heads_reconcile_nothing(
    in_process: InProcess,
) -> None:
    client, controller, _ = in_process
    body = _push(ref="refs/heads/review/web/20260101-000000-abcd")
    answer = client.post("/webhooks/git", content=body, headers=_github(body))
    assert (answer.status_code, answer.json()["reconcile"]) == (202, False)
    body = _push(after="3" * 40)
    assert client.post("/webhooks/git", content=body, headers=_github(body)).json()["reconcile"]
    time.sleep(0.3)
    assert controller.signals == []  # the head did not move: nothing to reconcile


def test_without_a_secret_every_delivery_is_refused_unless_unsigned_is_allowed(
    tmp_path: Path,
) -> None:
    env = {"RISE_ADMIN_PASSWORD": "admin-password-1"}
    strict = build_context(load_config(flags={"data_dir": str(tmp_path / "a")}), env)
    with InProcessServer(create_app(strict)) as client:
        body = _push()
        refused = client.post("/webhooks/git", content=body, headers=_github(body))
        assert refused.status_code == 401
        assert "RISE_WEBHOOK_SECRET" in refused.json()["hint"]
    lenient = build_context(
        load_config(flags={"data_dir": str(tmp_path / "b"), "webhooks.allow_unsigned": True}),
        env,
    )
    with InProcessServer(create_app(lenient)) as client:
        accepted = client.post("/webhooks/git", content=_push(), headers={"X-Gitea-Event": "push"})
        assert accepted.status_code == 202
