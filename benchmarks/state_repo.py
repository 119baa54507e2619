"""State repository figures: 10,000 projects (SPEC §11, issue: foundation).

Measures: building the repo, commits/s with one writer and with 8 concurrent writers, a full
snapshot read (cold and with the parse cache warm) and its memory, and changed-projects for a
one-project change. Goals: changed-projects < 5 ms regardless of size; snapshot < 2 s.

    python benchmarks/state_repo.py [--projects 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, peak_rss_mb, samples, timed
from reconciler.state import Author, Edit, StateRepo

DIGEST = "sha256:" + "0123456789abcdef" * 4


def _project_files(name: str, n: int) -> dict[str, str]:
    return {
        f"projects/{name}/project.toml": f'owner = "user:u{n % 97}"\nvisibility = "public"\n',
        f"projects/{name}/.rise.toml": f'project = "{name}"\n[deploy]\nreplicas = {1 + n % 3}\n',
        f"projects/{name}/deployment.toml": (
            f'id = "20261122-153012-{n % 65536:04x}"\n'
            f'image = "registry.rise.dev/{name}@{DIGEST}"\n'
            'created_by = "user:bench"\ncreated_at = 2026-11-22T15:30:12Z\n'
        ),
        f"projects/{name}/env.toml": f'[vars]\nINDEX = "{n}"\n',
    }


def build(path: Path, count: int) -> StateRepo:
    repo = StateRepo.init(path)

    def seed(edit: Edit) -> str:
        for n in range(count):
            for file, text in _project_files(f"app-{n}", n).items():
                edit.write(file, text)
        return f"seed {count} projects"

    repo.commit(seed, Author("bench"))
    return repo


def _bump(repo: StateRepo, project: str, value: int) -> None:
    def change(edit: Edit) -> str:
        edit.write(f"projects/{project}/env.toml", f'[vars]\nINDEX = "{value}"\n')
        return f"bump {project}"

    repo.commit(change, Author("bench"))


def _concurrent(handle_for: Callable[[int], StateRepo], per_writer: int) -> float:
    """Commits per second with 8 threads writing at once through ``handle_for(writer)``."""

    def work(w: int) -> None:
        handle = handle_for(w)
        for i in range(per_writer):
            _bump(handle, f"app-{w}", i)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    with timed() as t:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    return per_writer * 8 / t[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    count = args.projects
    with tempfile.TemporaryDirectory() as tmp:
        print(f"state repo benchmark: {count:,} projects")
        with timed() as t:
            repo = build(Path(tmp) / "state.git", count)
        figure("build (one commit, 4 files/project)", t[0], "s")

        with timed() as t:
            for i in range(args.commits):
                _bump(repo, f"app-{i % count}", i)
        single = args.commits / t[0]
        figure("commits/s, 1 writer", single)

        per_writer = args.commits // 8
        shared = _concurrent(lambda w: repo, per_writer)
        figure("commits/s, 8 threads sharing one StateRepo", shared)
        concurrent = _concurrent(lambda w: StateRepo(repo.path), per_writer)
        figure("commits/s, 8 writers racing (own handles)", concurrent)

        with timed() as t:
            StateRepo(repo.path).snapshot()
        figure("full snapshot read, cold, loose objects", t[0], "s")
        with timed() as t:
            packed = repo.pack_loose_objects()
        figure(f"pack_loose_objects ({packed:,} objects)", t[0], "s")
        cold = StateRepo(repo.path)
        with timed() as t:
            snapshot = cold.snapshot()
        assert len(snapshot.projects) == count and not snapshot.all_problems
        figure("full snapshot read, cold, packed", t[0], "s")
        snapshot_seconds = t[0]
        # Measured apart: tracing allocations slows the read several times over.
        tracemalloc.start()
        StateRepo(repo.path).snapshot()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figure("full snapshot read, peak Python memory", peak / 2**20, "MiB")
        warm = samples(cold.snapshot, 3)
        figure("full snapshot read, warm parse cache (median)", median_ms(warm) / 1000, "s")

        before = repo.head()
        _bump(repo, f"app-{count // 2}", -1)
        after = repo.head()
        with timed() as t:
            assert StateRepo(repo.path).changed_projects(before, after) == {f"app-{count // 2}"}
        figure("changed-projects, cold (both listings read)", t[0] * 1000, "ms")
        changed = samples(lambda: repo.changed_projects(before, after), 50)
        figure("changed-projects, 1-project change (median)", median_ms(changed), "ms")
        figure("peak RSS", peak_rss_mb(), "MiB")
        print(
            f"SUMMARY state_repo projects={count} commits/s={single:.0f}/{shared:.0f}/"
            f"{concurrent:.0f}(1w/8shared/8racing) "
            f"snapshot={snapshot_seconds:.2f}s changed={median_ms(changed):.2f}ms "
            f"rss={peak_rss_mb():.0f}MiB"
        )


if __name__ == "__main__":
    main()
