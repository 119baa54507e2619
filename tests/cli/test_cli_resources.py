"""``rise project`` and ``rise team`` against a running server: tables, ``-o json|yaml`` as the
API's models, close-match suggestions, and the exit codes of the documented table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from pydantic import BaseModel, TypeAdapter

from cli.errors import EXIT_AUTH, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_USAGE
from schemas.api import Me, ProjectDetail, ProjectRow, TeamInfo
from tests.server.conftest import RunningServer
from tests.server.conftest import server as server
from tests.support.rise_cli import TREE, RiseCli, logged_in


@pytest.fixture
def rise(server: RunningServer, tmp_path: Path) -> RiseCli:
    return logged_in(server, tmp_path / "xdg")


def _parses(model: type[BaseModel], text: str, many: bool = False) -> list[BaseModel]:
    """The output parsed strictly (unknown keys are errors) into the API's model."""
    data = json.loads(text)
    items = TypeAdapter(list[model]).validate_python(data) if many else [model(**data)]  # type: ignore[valid-type]
    assert items if many else True
    return items


def test_teams_create_list_show_update_delete(server: RunningServer, rise: RiseCli):
    server.user("anna")
    server.user("lea")
    assert rise.ok("t", "c", "devops", "--member", "anna") == (
        "Created team 'devops' (owners: admin; members: anna).\n"
    )
    table = rise.ok("team", "ls").splitlines()
    assert table[0].split() == ["TEAM", "OWNERS", "MEMBERS"]
    assert ["devops", "admin", "anna"] in [line.split() for line in table[1:]]
    shown = rise.ok("t", "s", "devops")
    assert shown == "team:    devops\nowners:  admin\nmembers: anna\n"
    updated = rise.ok(
        "t",
        "update",
        "devops",
        "--add-member",
        "lea",
        "--remove-member",
        "anna",
        "--add-owner",
        "anna",
    )
    assert updated == "Updated team 'devops' (owners: admin, anna; members: lea).\n"
    assert "nothing to change" in rise.fails(EXIT_USAGE, "t", "update", "devops")
    rise.ok("p", "c", "ops-app", "--owner", "team:devops")
    err = rise.fails(EXIT_CONFLICT, "t", "rm", "devops", "--yes")
    assert "team 'devops' owns projects: ops-app" in err
    assert "hint: give those projects another owner" in err
    rise.ok("p", "rm", "ops-app", "--yes")
    assert rise.ok("t", "rm", "devops", "--yes") == "Deleted team 'devops'.\n"
    assert "devops" not in rise.ok("t", "ls")


def test_every_json_output_is_the_api_model(server: RunningServer, rise: RiseCli):
    server.user("niklas")
    commands: list[tuple[type[BaseModel], bool, tuple[str, ...]]] = [
        (TeamInfo, False, ("team", "create", "json-team", "--member", "niklas")),
        (TeamInfo, True, ("team", "list")),
        (TeamInfo, False, ("team", "show", "json-team")),
        (TeamInfo, False, ("team", "update", "json-team", "--add-owner", "niklas")),
        (ProjectDetail, False, ("project", "create", "json-app", "--owner", "team:json-team")),
        (ProjectRow, True, ("project", "list")),
        (ProjectDetail, False, ("project", "show", "json-app")),
        (ProjectDetail, False, ("project", "update", "json-app", "--visibility", "private")),
        (Me, False, ("whoami",)),
    ]
    for model, many, args in commands:
        _parses(model, rise.ok(*args, "-o", "json"), many)
        if args[0] == "whoami" or args[1] in ("list", "show"):
            as_yaml = yaml.safe_load(rise.ok(*args, "-o", "yaml"))
            assert as_yaml == json.loads(rise.ok(*args, "-o", "json"))


def test_mistyped_names_suggest_the_close_match(server: RunningServer, rise: RiseCli):
    rise.ok("t", "c", "devops")
    created = rise.ok("p", "c", "secret-app", "--visibility", "private", "--owner", "team:devops")
    assert created == (
        "Created project 'secret-app' with private visibility owned by team:devops.\n"
    )
    listed = [line.split() for line in rise.ok("p", "ls").splitlines()]
    assert listed[0] == ["PROJECT", "STATUS", "URL", "VISIBILITY", "OWNER"]
    assert ["secret-app", "stopped", "https://secret-app.rise.dev", "private", "team:devops"] in (
        listed
    )
    err = rise.fails(EXIT_NOT_FOUND, "p", "s", "secret-ap")
    assert err == "project 'secret-ap' not found\nhint: did you mean 'secret-app'?\n"
    err = rise.fails(EXIT_NOT_FOUND, "t", "s", "devopz")
    assert "hint: did you mean 'devops'?" in err
    # The server says it for an owner (the transcript's line).
    err = rise.fails(EXIT_AUTH, "p", "c", "other-app", "--owner", "team:devopsy")
    assert (
        "Team 'devopsy' does not exist or you do not have permission to create projects for it. "
        "Did you mean 'devops'?"
    ) in err
    # And click for a command.
    err = rise.fails(EXIT_USAGE, "projetc", "ls")
    assert "No such command 'projetc'. Did you mean 'project'?" in err
    err = rise.fails(EXIT_USAGE, "team", "craete", "x")
    assert "No such command 'craete'. Did you mean 'create'?" in err


def test_a_private_name_is_never_suggested_to_someone_who_may_not_see_it(
    server: RunningServer, rise: RiseCli, tmp_path: Path
):
    rise.ok("p", "c", "hidden-app", "--visibility", "private")
    server.user("mallory")
    mallory = RiseCli(tmp_path / "mallory")
    mallory.login(server, "mallory", "user-password-1")
    err = mallory.fails(EXIT_NOT_FOUND, "p", "s", "hidden-ap")
    assert "hidden-app" not in err


def test_the_exit_code_table(server: RunningServer, rise: RiseCli, tmp_path: Path):
    # 2: bad input, whether click or the server finds it
    err = rise.fails(EXIT_USAGE, "p", "c", "Not_A_Name")
    assert err.startswith("key 'name': name 'Not_A_Name' must be lower-case letters")
    assert err.count("Not_A_Name") == 1
    rise.fails(EXIT_USAGE, "p", "c")
    # 3: not logged in / not allowed
    stranger = RiseCli(tmp_path / "stranger")
    assert "not logged in" in stranger.fails(EXIT_AUTH, "--url", server.url, "p", "ls")
    # 4: not found
    assert "not found" in rise.fails(EXIT_NOT_FOUND, "p", "s", "no-such-app")
    # 5: conflict
    rise.ok("p", "c", "taken-app")
    assert "already exists" in rise.fails(EXIT_CONFLICT, "p", "c", "taken-app")


def test_colour_only_on_a_terminal_and_never_with_no_color(server: RunningServer, rise: RiseCli):
    rise.ok("p", "c", "colour-app")

    def in_terminal(**env: str) -> str:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "cli.main", "p", "ls"],
            env=rise.env(**env),
            cwd=str(TREE),
            encoding="utf-8",
            timeout=60,
        )
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        return str(child.before)

    assert "\x1b[" in in_terminal()
    assert "\x1b[" not in in_terminal(NO_COLOR="1")
    assert "\x1b[" not in rise.ok("p", "ls")  # piped
