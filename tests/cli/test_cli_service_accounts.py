"""``rise sa`` as a person and a CI job use it, against a server that trusts a local issuer.

The CI job is the real CLI with ``RISE_URL`` and ``RISE_TOKEN`` set to a GitHub-Actions-shaped
token minted by the issuer: no login, no stored secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ADMIN_PASSWORD, RunningServer, image
from tests.support.deploy_stack import Cli, start_deploy_stack
from tests.support.issuer import (
    LocalIssuer,
    github_actions_claims,
    start_trusting_server,
    trusting_config,
)
from tests.support.rise_cli import RiseCli
from tests.support.tools import require_tool

AUDIENCE = "https://rise.example/ci"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer("ES256") as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer
) -> Iterator[RunningServer]:
    running = start_trusting_server(tmp_path_factory.mktemp("sa-cli"), issuer, AUDIENCE)
    yield running
    running.terminate()


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory, server: RunningServer) -> RiseCli:
    rise = RiseCli(tmp_path_factory.mktemp("owner-home"))
    rise.login(server)
    rise.ok("p", "c", "shop")
    rise.ok("p", "c", "blog")
    return rise


def _ci(tmp_path: Path, server: RunningServer, token: str) -> RiseCli:
    return RiseCli(tmp_path / "ci-home", {"RISE_URL": server.url, "RISE_TOKEN": token})


def test_a_pipeline_deploys_with_its_own_token(
    tmp_path: Path, server: RunningServer, issuer: LocalIssuer, owner: RiseCli
) -> None:
    created = owner.ok(
        "sa", "create", "shop", "deploy", "--issuer", issuer.url,
        "--claim", "repository=org/shop", "--claim", "ref=refs/heads/main",
    )  # fmt: skip
    assert created.startswith("Created service account 'deploy' of project 'shop'")
    token = issuer.mint(github_actions_claims(issuer, AUDIENCE, repository="org/shop"))
    ci = _ci(tmp_path, server, token)
    assert "service-account" in ci.ok("whoami")
    deployed = ci.ok("d", "c", "shop", "--image", image("shop", 7), "--no-follow", "-o", "json")
    deployment = json.loads(deployed)
    assert deployment["created_by"] == "service-account:shop/deploy"
    assert deployment["id"] in ci.ok("d", "ls", "shop")
    assert deployment["id"] in ci.ok("d", "s", "shop", deployment["id"])
    assert "Stopped 'shop'" in ci.ok("d", "stop", "shop")
    assert not ci.config_file.exists()  # nothing stored
    # the owner sees who deployed
    assert "service-account:shop/deploy" in owner.ok("d", "ls", "shop")
    # the same token on another project, and anything but deploying, is refused
    other = ci.fails(3, "d", "c", "blog", "--image", image("blog"), "--no-follow")
    assert "belongs to project 'shop' and may not use project 'blog'" in other
    refused = ci.fails(3, "env", "set", "shop", "LOG_LEVEL", "debug")
    assert "service account 'shop/deploy' may not PUT" in refused
    assert "may not DELETE" in ci.fails(3, "p", "rm", "shop", "--yes")
    # a token of a pipeline on another branch matches no account
    branch = issuer.mint(
        github_actions_claims(issuer, AUDIENCE, repository="org/shop", ref="refs/heads/dev")
    )
    assert "no service account matches" in _ci(tmp_path, server, branch).fails(3, "whoami")


def test_list_shows_issuer_and_claims(owner: RiseCli, issuer: LocalIssuer) -> None:
    owner.ok("sa", "create", "blog", "gitlab", "--issuer", issuer.url, "--claim", "ref=release-*")
    table = owner.ok("sa", "ls", "blog")
    assert table.splitlines()[0].split() == ["NAME", "ISSUER", "CLAIMS", "CREATED", "BY"]
    assert "gitlab" in table and "ref=release-*" in table and "admin" in table
    rows = json.loads(owner.ok("service-account", "list", "blog", "-o", "json"))
    assert rows == [
        {
            "project": "blog",
            "name": "gitlab",
            "issuer": issuer.url,
            "claims": {"ref": "release-*"},
            "created_by": "admin",
            "commit": None,
        }
    ]
    assert "Removed service account 'gitlab'" in owner.ok("sa", "rm", "blog", "gitlab", "-y")
    assert owner.ok("sa", "ls", "blog", "-o", "json").strip() == "[]"


def test_bad_input_says_what_and_how_to_fix(owner: RiseCli, issuer: LocalIssuer) -> None:
    base = ("sa", "create", "shop", "x", "--issuer", issuer.url)
    malformed = owner.fails(2, *base, "--claim", "repository")
    assert "'repository' is not NAME=VALUE; e.g. --claim repository=org/app" in malformed
    assert "Missing option '--claim'" in owner.fails(2, *base)
    untrusted = owner.fails(
        2, "sa", "c", "shop", "x", "--issuer", "https://gitlab.example", "--claim", "a=b"
    )
    assert "'https://gitlab.example' is not one this server trusts" in untrusted
    assert f"trusted issuers: {issuer.url}" in untrusted
    owner.ok("sa", "c", "shop", "taken", "--issuer", issuer.url, "--claim", "repository=org/t")
    taken = owner.fails(5, "sa", "c", "shop", "taken", "--issuer", issuer.url, "--claim", "a=b")
    assert "service account 'taken' already exists in project 'shop'" in taken
    assert "matches anything" in owner.fails(2, *base, "--claim", "repository=*")
    missing = owner.fails(4, "sa", "rm", "shop", "nope", "-y")
    assert "service account 'shop/nope' not found" in missing
    assert "not found" in owner.fails(4, "sa", "ls", "shpo")


def test_a_pipeline_builds_pushes_and_deploys_its_folder(
    tmp_path: Path, issuer: LocalIssuer
) -> None:
    """The whole `rise deploy` of a CI job: build, push with credentials its token got, deploy."""
    require_tool("buildah", "apt-get install buildah")
    config = trusting_config(tmp_path / "server.toml", issuer, AUDIENCE)
    stack = start_deploy_stack(tmp_path / "stack", ("--config", str(config)))
    try:
        stack.cli.login(stack.server.url, "admin", ADMIN_PASSWORD)
        for args in (("p", "c", "web"), ("p", "c", "api")):
            assert stack.rise(*args).returncode == 0
        account = ("sa", "c", "web", "ci", "--issuer", issuer.url, "--claim", "repository=org/web")
        assert stack.rise(*account).returncode == 0, stack.rise(*account).stderr
        app = stack.app(tmp_path / "web", "web")
        token = issuer.mint(github_actions_claims(issuer, AUDIENCE, repository="org/web"))
        job = Cli(tmp_path / "job", {**stack.cli.extra_env, "RISE_URL": stack.server.url})
        job.extra_env["RISE_TOKEN"] = token
        done = job.rise("deploy", "--no-follow", "-o", "json", cwd=app)
        assert done.returncode == 0, done.stderr
        deployed = json.loads(done.stdout)
        assert deployed["created_by"] == "service-account:web/ci"
        assert deployed["image"].startswith(f"{stack.registry.host}/web@sha256:")
        # its push credentials are for its own project only
        other = job.rise("deploy", "api", "--no-follow", cwd=stack.app(tmp_path / "api", "api"))
        assert other.returncode == 3, other.stderr
        assert "belongs to project 'web' and may not use project 'api'" in other.stderr
    finally:
        stack.stop()
