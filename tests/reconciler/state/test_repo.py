"""The git state store: snapshots, CAS commits under concurrency, history, branches, remotes."""

from __future__ import annotations

import multiprocessing
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
import pytest

from reconciler.state import Author, CommitConflict, Edit, StateError, StateRepo
from tests.support.writers import LEDGER, write_commits

PROJECT = 'owner = "user:niklas"\nvisibility = "public"\n'


def _write(path: str, data: str, message: str = "change"):
    def change(edit: Edit) -> str:
        edit.write(path, data)
        return message

    return change


def _linear_history(repo: StateRepo) -> list[pygit2.Commit]:
    commits = list(repo.log())
    assert all(len(c.parents) <= 1 for c in commits), "history must stay linear"
    return commits


def test_commit_is_authored_by_the_user_and_committed_by_rise(state_repo: StateRepo) -> None:
    result = state_repo.commit(
        _write("projects/web/project.toml", PROJECT, "create web"), Author("niklas")
    )
    commit = state_repo.resolve(result.commit)
    assert commit.author.name == "niklas"
    assert commit.committer.name == "rise"
    assert commit.message == "create web\n"
    assert state_repo.read("projects/web/project.toml") == PROJECT.encode()
    assert state_repo.snapshot().projects["web"].project.owner == "user:niklas"


def test_a_change_that_stages_nothing_makes_no_commit(state_repo: StateRepo) -> None:
    head = state_repo.head()
    assert state_repo.commit(lambda edit: None, Author("a")).commit is None
    same = state_repo.commit(
        _write("rise-state.toml", state_repo.read("rise-state.toml").decode()), Author("a")
    )
    assert same.commit is None
    assert state_repo.head() == head


def test_an_aborted_change_leaves_the_repo_unchanged(state_repo: StateRepo) -> None:
    head = state_repo.head()

    def change(edit: Edit) -> str:
        edit.write("projects/web/project.toml", PROJECT)
        raise ValueError("refused")

    with pytest.raises(ValueError):
        state_repo.commit(change, Author("a"))
    assert state_repo.head() == head


def test_edit_reads_its_own_writes_and_deletes_folders(state_repo: StateRepo) -> None:
    state_repo.commit(_write("projects/web/project.toml", PROJECT), Author("a"))

    def change(edit: Edit) -> str:
        assert edit.list("projects") == ["web"]
        edit.write("projects/api/project.toml", PROJECT)
        assert edit.list("projects") == ["api", "web"]
        edit.delete("projects/web")
        assert edit.read("projects/web/project.toml") is None
        assert edit.list("projects") == ["api"]
        return "swap"

    state_repo.commit(change, Author("a"))
    assert sorted(state_repo.snapshot().projects) == ["api"]


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/passwd",
        "projects/../../x",
        "projects/UPPER/a",
        "projects/a--b/project.toml",
        "a//b",
        "",
    ],
)
def test_paths_that_could_escape_are_refused(state_repo: StateRepo, path: str) -> None:
    head = state_repo.head()
    with pytest.raises(ValueError):
        state_repo.commit(_write(path, "x"), Author("a"))
    assert state_repo.head() == head


def test_threads_and_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    repo = StateRepo.init(tmp_path / "state.git")
    start = repo.head()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        procs = pool.starmap_async(write_commits, [(repo.path, f"p{i}", 25) for i in range(4)])
        results: dict[str, list[str]] = {}
        threads = [
            threading.Thread(
                target=lambda w=f"t{i}": results.__setitem__(w, write_commits(repo.path, w, 25))
            )
            for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for commits in procs.get(timeout=240):
            results[commits[0]] = commits
    written = {c for commits in results.values() for c in commits}
    assert len(written) == 300
    history = _linear_history(repo)
    assert str(history[-1].id) != start or len(history) == 301
    assert {str(c.id) for c in history[:-1]} == written, "every commit is on the branch"
    snapshot = repo.snapshot()
    tags = {
        f"{w}-{n}"
        for w in [*(f"t{i}" for i in range(8)), *(f"p{i}" for i in range(4))]
        for n in range(25)
    }
    assert set(snapshot.projects) == tags
    for tag in tags:
        assert snapshot.projects[tag].project.created_by == tag
    # Every writer re-applied its read-modify-write of the shared file on the newest head.
    members = tomllib.loads(repo.read(LEDGER).decode())["members"]
    assert sorted(members) == sorted(tags)


def test_a_writer_that_always_loses_gives_up_without_writing(state_repo: StateRepo) -> None:
    rival = StateRepo(state_repo.path)
    attempts = []

    def change(edit: Edit) -> str:
        attempts.append(1)
        # Someone else commits after we read the head, every time.
        rival.commit(_write(f"projects/r{len(attempts)}/project.toml", PROJECT), Author("rival"))
        edit.write("projects/mine/project.toml", PROJECT)
        return "mine"

    with pytest.raises(CommitConflict):
        state_repo.commit(change, Author("me"), max_attempts=3)
    assert len(attempts) == 3
    assert "mine" not in state_repo.snapshot().projects


def test_changed_projects_follows_the_tree_diff(state_repo: StateRepo) -> None:
    def seed(edit: Edit) -> str:
        for i in range(50):
            edit.write(f"projects/p{i}/project.toml", PROJECT)
        return "seed"

    before = state_repo.commit(seed, Author("a")).commit

    def change(edit: Edit) -> str:
        edit.write("projects/p3/env.toml", '[vars]\nA = "1"\n')
        edit.delete("projects/p7")
        edit.write("projects/new/project.toml", PROJECT)
        edit.write(
            "service-accounts/p9/ci.toml",
            'issuer = "https://token.actions.githubusercontent.com"\n'
            '[claims]\nrepository = "acme/p9"\n',
        )
        edit.write("teams/devops.toml", "owners = ['niklas']\n")
        return "mixed"

    after = state_repo.commit(change, Author("a")).commit
    assert state_repo.changed_projects(before, after) == {"p3", "p7", "new", "p9"}
    assert state_repo.changed_projects(after, after) == set()
    assert len(state_repo.changed_projects(None, after)) == 50


def test_history_of_a_file_is_its_git_log(state_repo: StateRepo) -> None:
    path = "projects/web/project.toml"
    for visibility in ("public", "private", "public"):
        state_repo.commit(
            _write(path, f'owner = "user:a"\nvisibility = "{visibility}"\n', visibility),
            Author("a"),
        )
        state_repo.commit(_write("teams/x.toml", f"owners = ['{visibility}']\n"), Author("b"))
    entries = state_repo.history(path)
    assert [e.message for e in entries] == ["public", "private", "public"]
    assert all(e.author == "a" for e in entries)
    assert state_repo.history(path, limit=1)[0].data.endswith(b'"public"\n')


def test_review_branches_start_from_main_and_stay_off_it(state_repo: StateRepo) -> None:
    main_head = state_repo.head()
    state_repo.commit(
        _write("projects/web/project.toml", PROJECT),
        Author("a"),
        branch="review/web/20261122-153012-ab12",
    )
    assert state_repo.head() == main_head
    assert state_repo.branches("review/") == ["review/web/20261122-153012-ab12"]
    review = state_repo.snapshot("review/web/20261122-153012-ab12")
    assert "web" in review.projects
    state_repo.delete_branch("review/web/20261122-153012-ab12")
    assert state_repo.branches("review/") == []
    with pytest.raises(StateError):
        state_repo.delete_branch("main")


def test_unknown_refs_and_non_repos_are_precise_errors(
    state_repo: StateRepo, tmp_path: Path
) -> None:
    with pytest.raises(StateError, match=r"no commit 'nope'.*branches: main"):
        state_repo.snapshot("nope")
    with pytest.raises(StateError, match="not a git repository"):
        StateRepo(tmp_path)
    with pytest.raises(StateError, match="not empty"):
        StateRepo.init(state_repo.path)


def test_remote_clones_push_with_the_same_no_lost_update_guarantee(tmp_path: Path) -> None:
    from reconciler.state import Remote

    origin = StateRepo.init(tmp_path / "origin.git")
    remote = Remote(url=str(tmp_path / "origin.git"))
    a = StateRepo.clone(remote, tmp_path / "a.git")
    b = StateRepo.clone(remote, tmp_path / "b.git")
    a.commit(_write("projects/one/project.toml", PROJECT), Author("a"))
    # b has not fetched: its push is a non-fast-forward, so it fetches, re-applies and retries.
    result = b.commit(_write("projects/two/project.toml", PROJECT), Author("b"))
    assert result.attempts >= 1
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(write_commits, str(tmp_path / f"{n}.git"), n, 5, remote.url)
            for n in ("a", "b")
        ]
        for future in futures:
            future.result()
    projects = origin.snapshot().projects
    assert {"one", "two"} <= set(projects)
    assert len([p for p in projects if p.startswith(("a-", "b-"))]) == 10
    members = tomllib.loads(origin.read(LEDGER).decode())["members"]
    assert len(members) == 10
    assert len(_linear_history(origin)) == 1 + 2 + 10


def test_packing_loose_objects_keeps_every_commit_readable(state_repo: StateRepo) -> None:
    for i in range(5):
        state_repo.commit(_write(f"projects/p{i}/project.toml", PROJECT), Author("a"))
    before = state_repo.snapshot()
    assert state_repo.pack_loose_objects() > 0
    assert state_repo.pack_loose_objects() == 0
    after = StateRepo(state_repo.path).snapshot()
    assert sorted(after.projects) == sorted(before.projects)
    state_repo.commit(_write("projects/p9/project.toml", PROJECT), Author("a"))
    assert "p9" in state_repo.snapshot().projects
    assert len(list(state_repo.log())) == 7


def test_changed_projects_in_10000_projects_reads_only_the_changed_folders(
    tmp_path: Path,
) -> None:
    repo = StateRepo.init(tmp_path / "state.git")

    def seed(edit: Edit) -> str:
        for n in range(10_000):
            edit.write(f"projects/app-{n}/project.toml", f'owner = "user:u{n}"\n')
        return "seed"

    before = repo.commit(seed, Author("a")).commit

    def change(edit: Edit) -> str:
        edit.write("projects/app-4242/project.toml", 'owner = "user:new"\n')
        edit.delete("projects/app-17")
        return "two projects"

    after = repo.commit(change, Author("a")).commit
    # Remove every object of the untouched projects: any read of one would now fail.
    git = repo.git
    kept = {"app-4242", "app-17"}
    removed = 0
    for commit in (before, after):
        for entry in git[git[commit].tree["projects"].id]:
            if entry.name in kept:
                continue
            for obj in (entry.id, *(item.id for item in git[entry.id])):
                loose = Path(git.path) / "objects" / str(obj)[:2] / str(obj)[2:]
                if loose.exists():
                    loose.unlink()
                    removed += 1
    assert removed == 2 * 9_998
    fresh = StateRepo(repo.path)
    assert fresh.changed_projects(before, after) == {"app-4242", "app-17"}


def test_remote_over_smart_http_with_credentials(tmp_path: Path) -> None:
    from reconciler.state import Remote
    from tests.support.git_http import GitHTTPServer
    from tests.support.tools import require_tool

    require_tool("git", "apt-get install git")
    origin = StateRepo.init(tmp_path / "served" / "state.git")
    with GitHTTPServer(tmp_path / "served", "ci", "s3cret") as server:
        url = f"{server.url}/state.git"
        with pytest.raises(StateError):
            StateRepo.clone(Remote(url, "ci", "wrong"), tmp_path / "denied.git")
        remote = Remote(url, "ci", "s3cret")
        clones = [StateRepo.clone(remote, tmp_path / f"{n}.git") for n in ("a", "b", "c")]
        with ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(write_commits, clone.path, name, 6, url)
                for clone, name in zip(clones, ("a", "b", "c"), strict=True)
            ]
            for future in futures:
                future.result()
    members = tomllib.loads(origin.read(LEDGER).decode())["members"]
    assert sorted(members) == sorted(f"{w}-{n}" for w in "abc" for n in range(6))
    assert len(_linear_history(origin)) == 1 + 18


def test_one_project_reads_like_a_snapshot(example_repo: StateRepo) -> None:
    whole = example_repo.snapshot().projects["my-first-app"]
    alone = example_repo.project("my-first-app")
    assert alone == whole
    assert example_repo.project("nope") is None
    assert example_repo.project("../x") is None

    def mismatch(edit: Edit) -> str:
        edit.write("projects/docs-site/.rise.toml", 'project = "other"\n')
        edit.write(
            "service-accounts/docs-site/ci.toml",
            'issuer = "https://token.actions.githubusercontent.com"\n[claims]\nrepo = "a/b"\n',
        )
        return "mismatch"

    example_repo.commit(mismatch, Author("a"))
    docs = example_repo.project("docs-site")
    assert not docs.valid
    assert "does not match the folder name" in docs.problems[0].message
    assert set(docs.service_accounts) == {"ci"}
