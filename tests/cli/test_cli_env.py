"""``rise env`` against a running server; a secret never shows in argv, config or terminal."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from pydantic import TypeAdapter

from cli.errors import EXIT_NOT_FOUND, EXIT_USAGE
from schemas.api import EnvVar
from tests.server.conftest import RunningServer
from tests.server.conftest import server as server
from tests.support.rise_cli import TREE, RiseCli, logged_in

SECRET = "s3cr3t-value-Ωx"


@pytest.fixture
def rise(server: RunningServer, tmp_path: Path, request: pytest.FixtureRequest) -> RiseCli:
    cli = logged_in(server, tmp_path / "xdg")
    cli.ok("p", "c", _project(request))
    return cli


def _project(request: pytest.FixtureRequest) -> str:
    return request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")


def test_set_get_list_unset(rise: RiseCli, request: pytest.FixtureRequest):
    app = _project(request)
    assert (
        rise.ok("env", "set", app, "LOG_LEVEL", "debug") == f"Set variable LOG_LEVEL of '{app}'.\n"
    )
    rise.ok("env", "set", app, "GREETING", input="hello world\n")  # a plain value from stdin
    rise.ok("env", "set", app, "DB_PASSWORD", "--secret", input=SECRET)
    assert rise.ok("env", "get", app, "GREETING") == "hello world\n"
    assert rise.ok("env", "get", app, "DB_PASSWORD") == "********\n"
    assert rise.ok("env", "get", app, "DB_PASSWORD", "--reveal") == f"{SECRET}\n"
    rows = [line.split() for line in rise.ok("env", "ls", app).splitlines()]
    assert rows == [
        ["KEY", "VALUE", "SECRET"],
        ["DB_PASSWORD", "********", "yes"],
        ["GREETING", "hello", "world", "no"],
        ["LOG_LEVEL", "debug", "no"],
    ]
    listed = TypeAdapter(list[EnvVar]).validate_json(rise.ok("env", "ls", app, "-o", "json"))
    assert [(v.key, v.secret) for v in listed] == [
        ("DB_PASSWORD", True),
        ("GREETING", False),
        ("LOG_LEVEL", False),
    ]
    EnvVar(**json.loads(rise.ok("env", "get", app, "LOG_LEVEL", "-o", "json")))
    assert rise.ok("env", "unset", app, "LOG_LEVEL") == f"Unset LOG_LEVEL of '{app}'.\n"
    err = rise.fails(EXIT_NOT_FOUND, "env", "get", app, "LOG_LEVEL")
    assert f"hint: list the variables of '{app}' with 'rise env list {app}'" in err
    err = rise.fails(EXIT_NOT_FOUND, "env", "get", app, "DB_PASWORD")
    assert "hint: did you mean 'DB_PASSWORD'?" in err
    err = rise.fails(EXIT_NOT_FOUND, "env", "ls", app + "x")
    assert f"hint: did you mean '{app}'?" in err


def test_a_secret_on_the_command_line_is_refused(rise: RiseCli, request: pytest.FixtureRequest):
    app = _project(request)
    err = rise.fails(EXIT_USAGE, "env", "set", app, "TOKEN", "oops", "--secret")
    assert "a secret is never taken from the command line" in err
    assert "oops" not in err
    err = rise.fails(EXIT_USAGE, "env", "set", app, "TOKEN", "--secret")  # nothing piped
    assert err.startswith("no value for TOKEN on standard input\n")
    assert "TOKEN" not in rise.ok("env", "ls", app)


def test_import_and_export_dotenv(rise: RiseCli, request: pytest.FixtureRequest, tmp_path: Path):
    app = _project(request)
    dotenv = tmp_path / "app.env"
    dotenv.write_text(
        "# settings\n"
        "export LOG_LEVEL=info   # inline comment\n"
        "GREETING='hello # not a comment'\n"
        'MULTI="line one\\nline two"\n'
        "API_KEY=abc123\n"
        "# rise:secret\n"
        "DB_PASSWORD='p@ss word'\n"
    )
    out = rise.ok("env", "import", app, str(dotenv), "--secret", "API_KEY")
    assert out == f"Imported 5 keys into '{app}' (2 secret).\n"
    assert rise.ok("env", "get", app, "MULTI") == "line one\nline two\n"
    assert rise.ok("env", "get", app, "GREETING") == "hello # not a comment\n"
    assert rise.ok("env", "get", app, "DB_PASSWORD", "--reveal") == "p@ss word\n"

    masked = rise.ok("env", "export", app)
    assert "abc123" not in masked and "p@ss" not in masked
    assert "# API_KEY is a secret (rise env export --reveal shows it)\n" in masked
    assert "LOG_LEVEL=info\n" in masked

    exported = tmp_path / "exported.env"
    rise.ok("env", "export", app, "--reveal", "-f", str(exported))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    # Round trip into another project: the same values, secrets still secret.
    rise.ok("p", "c", f"{app}-copy")
    rise.ok("env", "import", f"{app}-copy", str(exported))
    original = rise.json("env", "ls", app, "--reveal")
    copy = rise.json("env", "ls", f"{app}-copy", "--reveal")
    strip = [{k: v for k, v in row.items() if k != "commit"} for row in original]
    assert [{k: v for k, v in row.items() if k != "commit"} for row in copy] == strip

    # --replace drops what the file does not name
    only = tmp_path / "only.env"
    only.write_text("LOG_LEVEL=warn\n")
    out = rise.ok("env", "import", app, str(only), "--replace")
    assert out.startswith(f"Imported 1 keys into '{app}' (0 secret); removed API_KEY, ")
    assert [row["key"] for row in rise.json("env", "ls", app)] == ["LOG_LEVEL"]


def test_a_bad_dotenv_file_changes_nothing(
    rise: RiseCli, request: pytest.FixtureRequest, tmp_path: Path
):
    app = _project(request)
    bad = tmp_path / "bad.env"
    bad.write_text("GOOD=1\nnot a line\n")
    err = rise.fails(EXIT_USAGE, "env", "import", app, str(bad))
    assert err.startswith(f"{bad}: line 2: expected '=' after 'not': write KEY=value\n")
    bad.write_text("GOOD=1\nmy-key=2\n")
    err = rise.fails(EXIT_USAGE, "env", "import", app, str(bad))
    assert err.startswith(f"{bad}: line 2: 'my-key' is not a variable name")
    bad.write_text("A='never closed\n")
    assert "line 1: the value's ' quote is never closed" in rise.fails(
        EXIT_USAGE, "env", "import", app, str(bad)
    )
    bad.write_bytes(b"A=caf\xe9\n")
    assert f"{bad}: not UTF-8 text (byte 5)" in rise.fails(
        EXIT_USAGE, "env", "import", app, str(bad)
    )
    bad.write_text("# only a comment\n")
    assert f"{bad} sets no variables; nothing was changed" in rise.fails(
        EXIT_USAGE, "env", "import", app, str(bad), "--replace"
    )
    assert rise.json("env", "ls", app) == []


def _cmdlines(pid: int) -> list[bytes]:
    """argv and environment of ``pid`` and its children, as the kernel shows them."""
    seen = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for name in ("cmdline", "environ"):
                seen.append(Path(f"/proc/{current}/{name}").read_bytes())
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return seen


def test_a_piped_secret_never_reaches_argv_config_or_output(
    rise: RiseCli, request: pytest.FixtureRequest, server: RunningServer
):
    app = _project(request)
    process = subprocess.Popen(
        rise.command("env", "set", app, "DB_PASSWORD", "--secret"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=rise.env(),
        cwd=TREE,
    )
    assert process.stdin is not None
    seen = _cmdlines(process.pid)
    time.sleep(0.5)  # it is waiting on stdin now
    assert process.poll() is None, "it did not wait for the secret on stdin"
    seen += _cmdlines(process.pid)
    process.stdin.write(SECRET.encode())
    process.stdin.close()
    while process.poll() is None:
        seen += _cmdlines(process.pid)
        time.sleep(0.01)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    assert process.returncode == 0, err
    secret = SECRET.encode()
    assert all(secret not in line for line in seen)
    assert secret not in out and secret not in err
    assert out == f"Set secret DB_PASSWORD of '{app}'.\n".encode()
    assert SECRET not in rise.config_file.read_text()
    history = subprocess.run(
        ["git", "-C", str(server.state_repo), "log", "-p", "--all"],
        capture_output=True,
        check=True,
    ).stdout
    assert b"DB_PASSWORD" in history and secret not in history
    assert rise.ok("env", "get", app, "DB_PASSWORD", "--reveal") == f"{SECRET}\n"


def test_a_typed_secret_is_not_echoed(rise: RiseCli, request: pytest.FixtureRequest):
    app = _project(request)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cli.main", "env", "set", app, "DB_PASSWORD", "--secret"],
        env=rise.env(),
        cwd=str(TREE),
        encoding="utf-8",
        timeout=60,
    )
    child.expect("Value of DB_PASSWORD: ")
    assert all(SECRET.encode() not in line for line in _cmdlines(child.pid))
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    terminal = child.before
    child.close()
    assert child.exitstatus == 0, terminal
    assert SECRET not in terminal
    assert f"Set secret DB_PASSWORD of '{app}'." in terminal
    assert rise.ok("env", "get", app, "DB_PASSWORD", "--reveal") == f"{SECRET}\n"
