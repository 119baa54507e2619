"""Reviews of deploys: how long a reviewed deploy takes end to end, and a pull request's comment.

- ``git push`` of a digest bump over rise's smart HTTP: the push (pre-receive check
  included) and push → manifests on the ``rendered`` branch;
- review create → approve → reconciled, against a real ``rise server`` (rendered runtime) on
  a state repo of ``--projects`` projects: p50/p99 of the review POST, of the approval (a
  CAS merge re-validated and re-rendered on main) and of approval → manifests on the
  ``rendered`` branch;
- the pull-request comment for a change of ``--objects`` objects: validate the head, render
  both sides, diff and format (summarised per object past the line budget), no forge calls.

    python benchmarks/reviews.py [--projects 1000] [--rounds 20] [--objects 500]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms, samples
from benchmarks.api import Server, seed
from reconciler.render import RenderSettings
from reconciler.runtimes.base import ObjectRef
from reconciler.runtimes.rendered import file_name
from reconciler.server.forges import build_forge
from reconciler.server.pull_requests import PullRequestReviewer
from reconciler.state import Author, Edit, StateRepo
from reconciler.state.trees import changed_paths
from schemas.server import ForgeConfig

# Namespace, ServiceAccount, Deployment, Service, Ingress, NetworkPolicy (no env: no Secret)
_OBJECTS_PER_PROJECT = 6


def _image(project: str, n: int) -> str:
    return f"registry.rise.dev/{project}@sha256:{n:064x}"


def bench_review_flow(workdir: Path, projects: int, rounds: int) -> tuple[float, float]:
    seed(workdir / "data" / "state.git", projects)
    server = Server(workdir / "data")
    try:
        with server.client() as admin:
            admin.post("/api/v1/users", json={"username": "dev", "password": "dev-password-1"})
            token = httpx.post(
                f"{server.url}/api/v1/auth/login",
                json={"username": "dev", "password": "dev-password-1"},
            ).json()["access_token"]
            dev = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            dev.post("/api/v1/projects", json={"name": "reviewed"}).raise_for_status()
            policy = {"settings": {"review": "required"}}  # admins only set policy
            admin.patch("/api/v1/projects/reviewed", json=policy).raise_for_status()
            repo = StateRepo(workdir / "data" / "state.git")
            while "rendered" not in repo.branches():  # the first full pass renders them all
                time.sleep(0.05)
            opened, shown, approved, reconciled = [], [], [], []
            for n in range(rounds):
                start = time.perf_counter()
                created = dev.post(
                    "/api/v1/projects/reviewed/deployments",
                    json={"image": _image("reviewed", n + 1), "review": True},
                )
                opened.append(time.perf_counter() - start)
                assert created.status_code == 202, created.text
                review = created.json()["review"]
                start = time.perf_counter()
                admin.get(f"/api/v1/reviews/reviewed/{review}").raise_for_status()
                shown.append(time.perf_counter() - start)
                start = time.perf_counter()
                merged = admin.post(f"/api/v1/reviews/reviewed/{review}/approve")
                approved.append(time.perf_counter() - start)
                assert merged.json().get("state") == "merged", merged.text
                deployment = ObjectRef("Deployment", "", f"reviewed-{review}")
                path = f"projects/reviewed/{file_name(deployment)}"
                while "rendered" not in repo.branches() or repo.read(path, "rendered") is None:
                    time.sleep(0.01)
                reconciled.append(time.perf_counter() - start)
        print(f"review create → approve → reconciled ({projects:,} projects, {rounds} rounds)")
        steps = {"open": opened, "show (diff)": shown, "approve": approved}
        for name, times in {**steps, "approve → rendered": reconciled}.items():
            figure(f"{name}: p50", median_ms(times), "ms")
            figure(f"{name}: p99", p99_ms(times), "ms")
        pushes = _bench_pushes(server, repo, workdir / "clone", rounds)
        return median_ms(reconciled), pushes
    finally:
        server.stop()


def _bench_pushes(server: Server, repo: StateRepo, clone: Path, rounds: int) -> float:
    """``git push`` of a digest bump over smart HTTP (pre-receive check included), and
    push → manifests on the ``rendered`` branch; the push's p50 in ms."""
    url = server.url.replace("http://", f"http://admin:{server.token}@")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "clone", "-q", f"{url}/git/state.git", str(clone)], check=True)
    path = clone / "projects/app-0/deployment.toml"
    pushed, reconciled = [], []
    for n in range(rounds):
        text = re.sub(
            r'(?m)^image = ".*"$', f'image = "{_image("app-0", 10**6 + n)}"', path.read_text()
        )
        path.write_text(text)
        subprocess.run([*git, "commit", "-qam", f"bump {n}"], cwd=clone, check=True)
        start = time.perf_counter()
        subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], cwd=clone, check=True)
        pushed.append(time.perf_counter() - start)
        wanted = _image("app-0", 10**6 + n).encode()
        while not any(
            wanted in (repo.read(f, "rendered") or b"")
            for f in changed_paths(repo, None, "rendered")
            if f.startswith("projects/app-0/") and "-deployment-" in f
        ):
            time.sleep(0.01)
        reconciled.append(time.perf_counter() - start)
    print(f"git push of a digest bump over smart HTTP ({rounds} pushes)")
    figure("push (with the pre-receive check): p50", median_ms(pushed), "ms")
    figure("push → rendered: p50", median_ms(reconciled), "ms")
    figure("push → rendered: p99", p99_ms(reconciled), "ms")
    return median_ms(pushed)


def bench_comment(workdir: Path, objects: int) -> tuple[float, int]:
    """A pull request that adds projects worth ``objects`` objects to an empty state."""
    count = max(1, objects // _OBJECTS_PER_PROJECT)
    repo = StateRepo.init(workdir / "state.git")

    def add_projects(edit: Edit) -> str:
        for p in range(count):
            base = f"projects/big-{p}"
            edit.write(f"{base}/project.toml", 'owner = "user:bench"\n')
            edit.write(
                f"{base}/deployment.toml",
                f'id = "20261122-153012-{p:04x}"\nimage = "{_image(f"big-{p}", 1)}"\n'
                'created_by = "user:bench"\ncreated_at = 2026-11-22T15:30:12Z\n',
            )
        return f"add {count} projects"

    head = repo.commit(add_projects, Author("bench"), branch="pr", start=repo.head()).commit
    assert head is not None
    forge = ForgeConfig(
        kind="github", api_url="http://127.0.0.1:9", repository="a/b", token_env="X"
    )
    reviewer = PullRequestReviewer(
        repo, build_forge(forge, "unused"), lambda: RenderSettings(), None, max_lines=300
    )
    body, problem = reviewer.comment_body(1, head)
    assert problem is None, problem
    changed = len(re.findall(r"^[~+-] \w+ ", body, re.M))
    times = samples(lambda: reviewer.comment_body(1, head), 5)
    print(f"pull-request comment: {count} new projects ({count * _OBJECTS_PER_PROJECT} objects)")
    figure("objects in the diff (summarised per object)", changed)
    figure("comment lines", body.count("\n"))
    figure("validate + render + diff + format: p50", median_ms(times), "ms")
    return median_ms(times), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--objects", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        reconciled, push_ms = bench_review_flow(Path(a), args.projects, args.rounds)
        comment_ms, changed = bench_comment(Path(b), args.objects)
    print(
        f"summary: approve → reconciled p50 {reconciled:.0f} ms at {args.projects:,} projects; "
        f"git push p50 {push_ms:.0f} ms; "
        f"PR comment for {changed} changed objects in {comment_ms:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
