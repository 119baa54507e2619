"""`rise review ls|show|approve|reject` as a user types them, against a running server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.reviews.conftest import new_project, open_review
from tests.server.conftest import Api, RunningServer, image

ROOT = Path(__file__).resolve().parents[2]


def rise(server: RunningServer, api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
    env.update(RISE_URL=server.url, RISE_TOKEN=api.token or "", NO_COLOR="1")
    env["HOME"] = env["XDG_CONFIG_HOME"] = str(server.data_dir.parent)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_teammate_reviews_from_the_command_line(
    server: RunningServer, team: dict[str, Api]
) -> None:
    alice, bob = team["alice"], team["bob"]
    new_project(team, "cli-shop")
    created = open_review(alice, "cli-shop", image("cli-shop", 1))
    review_id = str(created["id"])

    listed = rise(server, bob, "review", "ls", "cli-shop")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["PROJECT", "ID", "STATE", "AUTHOR", "IMAGE", "APPROVALS", "CREATED"]
    assert row.split()[:4] == ["cli-shop", review_id, "open", "alice"] and "0/1" in row

    shown = rise(server, bob, "review", "show", review_id)
    assert shown.returncode == 0, shown.stderr
    assert "asked by:" in shown.stdout and "alice" in shown.stdout
    assert "+ Deployment rise-cli-shop/cli-shop-" in shown.stdout

    own = rise(server, alice, "review", "approve", review_id)
    assert own.returncode == 3
    assert "you cannot approve it" in own.stderr and "hint: another member" in own.stderr

    typo = rise(server, bob, "review", "approve", review_id[:-1] + "x")
    assert typo.returncode == 4 and f"did you mean '{review_id}'" in typo.stderr

    approved = rise(server, bob, "review", "approve", f"cli-shop/{review_id}")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"Approved review cli-shop/{review_id}: merged onto main")
    history = rise(server, bob, "d", "s", "cli-shop", review_id)
    assert history.returncode == 0, history.stderr
    assert "approved by:" in history.stdout and "bob" in history.stdout


def test_reject_says_why_and_json_is_the_api_model(
    server: RunningServer, team: dict[str, Api]
) -> None:
    alice, bob = team["alice"], team["bob"]
    new_project(team, "cli-ledger")
    created = open_review(alice, "cli-ledger", image("cli-ledger", 1))
    rejected = rise(server, bob, "review", "reject", str(created["id"]), "--reason", "not today")
    assert rejected.returncode == 0, rejected.stderr
    assert rejected.stdout.strip() == f"Rejected review cli-ledger/{created['id']}: not today"
    closed = rise(server, bob, "review", "approve", str(created["id"]))
    assert closed.returncode == 5 and "was rejected by bob: not today" in closed.stderr
    everything = rise(server, bob, "review", "ls", "cli-ledger", "--all", "-o", "json")
    assert everything.returncode == 0, everything.stderr
    assert '"state": "rejected"' in everything.stdout
    assert rise(server, bob, "review", "ls", "cli-ledger").stdout.strip() == "No reviews waiting."


def test_rise_deploy_review_opens_a_review_and_says_who_approves(
    server: RunningServer, team: dict[str, Api]
) -> None:
    alice = team["alice"]
    new_project(team, "cli-cart")
    refused = rise(server, alice, "d", "c", "cli-cart", "--image", image("cli-cart", 1))
    assert refused.returncode == 5 and "rise deploy --review" in refused.stderr
    asked = rise(server, alice, "d", "c", "cli-cart", "--image", image("cli-cart", 1), "--review")
    assert asked.returncode == 0, asked.stderr
    assert "waits for review on review/cli-cart/" in asked.stdout
    assert "rise review approve cli-cart/" in asked.stdout
    assert len(alice.ok("GET", "/api/v1/projects/cli-cart/reviews")) == 1
