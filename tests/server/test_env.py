"""Env over real HTTP: secrets are encrypted before git and masked everywhere else."""

from __future__ import annotations

import base64

import pygit2
import pytest

from reconciler.secrets import MASK, SecretBox
from reconciler.state import StateRepo
from tests.server.conftest import Api, RunningServer

SECRET = "s3cr3t-Value-that-must-never-leak-7781"


@pytest.fixture(scope="module")
def ops(server: RunningServer) -> Api:
    api = server.user("ops")
    api.ok("POST", "/api/v1/projects", {"name": "shop", "visibility": "private"}, 201)
    return api


def _all_git_objects(path: str) -> bytes:
    repo = pygit2.Repository(path)
    return b"\n".join(repo.odb.read(oid)[1] for oid in repo.odb)


def test_a_secret_never_appears_in_clear_in_git_responses_or_logs(
    server: RunningServer, ops: Api
) -> None:
    responses = [
        ops.put(
            "/api/v1/projects/shop/env/DATABASE_PASSWORD", json={"value": SECRET, "secret": True}
        ),
        ops.put("/api/v1/projects/shop/env/LOG_LEVEL", json={"value": "debug"}),
        ops.get("/api/v1/projects/shop/env"),
        ops.get("/api/v1/projects/shop/env/DATABASE_PASSWORD"),
        ops.post("/api/v1/projects/shop/env/import", json={"secrets": {"API_KEY": SECRET + "2"}}),
        ops.get("/api/v1/projects/shop"),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert SECRET not in response.text
    listed = {v["key"]: v for v in responses[2].json()}
    assert listed["DATABASE_PASSWORD"] == {
        "key": "DATABASE_PASSWORD",
        "value": MASK,
        "secret": True,
        "commit": None,
    }
    assert listed["LOG_LEVEL"]["value"] == "debug"

    everything = _all_git_objects(str(server.state_repo))
    assert b"LOG_LEVEL" in everything  # the scan does see the env file
    for needle in (SECRET, base64.b64encode(SECRET.encode()).decode()):
        assert needle.encode() not in everything
    assert SECRET not in server.log()

    # What git holds is ciphertext the server's key opens, bound to this project and key.
    env = StateRepo(server.state_repo).snapshot().projects["shop"].env
    box = SecretBox.from_file(server.data_dir / "secrets.key")
    token = env.secrets["DATABASE_PASSWORD"]
    assert box.decrypt("shop", "DATABASE_PASSWORD", token) == SECRET
    with pytest.raises(ValueError, match="cannot be decrypted"):
        box.decrypt("other-project", "DATABASE_PASSWORD", token)


def test_reveal_decrypts_for_members_only(server: RunningServer, ops: Api) -> None:
    ops.ok("PUT", "/api/v1/projects/shop/env/TOKEN", {"value": "t0ken-xyz", "secret": True})
    revealed = ops.ok("GET", "/api/v1/projects/shop/env/TOKEN?reveal=true")
    assert revealed["value"] == "t0ken-xyz"
    stranger = server.user("env-stranger")
    assert stranger.get("/api/v1/projects/shop/env?reveal=true").status_code == 404


def test_set_moves_a_key_between_plain_and_secret_and_unset_removes_it(
    server: RunningServer, ops: Api
) -> None:
    ops.ok("PUT", "/api/v1/projects/shop/env/MODE", {"value": "plain"})
    ops.ok("PUT", "/api/v1/projects/shop/env/MODE", {"value": "hidden", "secret": True})
    env = StateRepo(server.state_repo).snapshot().projects["shop"].env
    assert "MODE" in env.secrets and "MODE" not in env.vars
    removed = ops.ok("DELETE", "/api/v1/projects/shop/env/MODE")
    assert removed["name"] == "MODE" and removed["commit"]
    assert ops.get("/api/v1/projects/shop/env/MODE").status_code == 404
    assert ops.delete("/api/v1/projects/shop/env/MODE").status_code == 404
    message = StateRepo(server.state_repo).resolve(removed["commit"]).message
    assert message.startswith("unset MODE of shop") and "hidden" not in message


def test_import_with_replace_drops_what_is_not_imported(server: RunningServer) -> None:
    api = server.user("importer")
    api.ok("POST", "/api/v1/projects", {"name": "imp"}, 201)
    api.ok("PUT", "/api/v1/projects/imp/env/OLD", {"value": "1"})
    result = api.ok(
        "POST",
        "/api/v1/projects/imp/env/import",
        {"vars": {"A": "1", "B": "2"}, "secrets": {"C": "3"}, "replace": True},
    )
    assert (result["set"], result["removed"]) == (["A", "B", "C"], ["OLD"])
    exported = api.ok("GET", "/api/v1/projects/imp/env?reveal=true")
    assert {v["key"]: v["value"] for v in exported} == {"A": "1", "B": "2", "C": "3"}
    both = api.post(
        "/api/v1/projects/imp/env/import", json={"vars": {"A": "1"}, "secrets": {"A": "2"}}
    )
    assert both.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/api/v1/projects/shop/env/1BAD", {"value": "x"}, "must match"),
        ("/api/v1/projects/shop/env/OK", {"value": "x\u0000y"}, "NUL"),
        ("/api/v1/projects/shop/env/OK", {"value": "x" * 40_000}, "the limit is"),
        ("/api/v1/projects/shop/env/OK", {"value": "x", "secrte": True}, "did you mean 'secret'"),
    ],
)
def test_bad_env_input_is_refused_precisely(
    ops: Api, path: str, body: dict[str, object], fragment: str
) -> None:
    response = ops.put(path, json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
