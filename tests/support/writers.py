"""Concurrent state-repo writers for the CAS tests (importable by spawned processes)."""

from __future__ import annotations

import tomllib

from reconciler.state import Author, Edit, Remote, StateRepo

LEDGER = "teams/ledger.toml"


def write_commits(
    path: str, writer: str, count: int, remote: str | None = None, auth: str = "ci:s3cret"
) -> list[str]:
    """Make ``count`` commits, each adding a project and appending to one shared file."""
    username, _, password = auth.partition(":")
    repo = StateRepo(path, remote=Remote(remote, username, password) if remote else None)
    commits = []
    for n in range(count):
        tag = f"{writer}-{n}"

        def change(edit: Edit, tag: str = tag) -> str:
            edit.write(f"projects/{tag}/project.toml", _project(tag))
            ledger = tomllib.loads((edit.read(LEDGER) or b"owners = ['rise']").decode())
            members = [*ledger.get("members", []), tag]
            edit.write(LEDGER, f"owners = ['rise']\nmembers = {members!r}\n")
            return f"add {tag}"

        result = repo.commit(change, Author(writer))
        assert result.commit is not None
        commits.append(result.commit)
    return commits


def _project(tag: str) -> str:
    return f'owner = "user:{tag.split("-")[0]}"\ncreated_by = "{tag}"\n'
