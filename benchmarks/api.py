"""rise server figures over loopback HTTP, load generated from this (separate) process.

Starts real ``rise server`` subprocesses on seeded state repos and measures:

- ``GET /api/v1/projects`` with 1,000 projects: requests/s, p50/p99 (and the first, cold call);
- deployment creation (a state-repo commit each) from concurrent clients: requests/s, p50/p99;
- ``POST /webhooks/git`` answer time with 10,000 projects while pushes land (goal: 202 in
  < 50 ms p99; Argo CD takes 10-15 s at 1,500 apps);
- ``GET .../deployments?limit=1000`` read 1,000 times by 32 clients, then the server's RSS
  (goal: < 250 MiB; git handles and their caches are pooled, not one per worker thread);
- the server's peak RSS.

    python benchmarks/api.py [--projects 1000] [--webhook-projects 10000] [--requests 400]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms
from reconciler.state import Author, Edit, StateRepo
from tests.server.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = "bench-admin-password"
SECRET = "bench-webhook-secret"
WORKERS = 8
HISTORY_READS = 1000
HISTORY_WORKERS = 32  # as many as the server's worker threads a burst can occupy
RSS_GOAL_MB = 250


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


def seed(path: Path, count: int) -> StateRepo:
    repo = StateRepo.init(path)

    def change(edit: Edit) -> str:
        for n in range(count):
            base = f"projects/app-{n}"
            edit.write(f"{base}/project.toml", 'owner = "user:bench"\nvisibility = "public"\n')
            edit.write(
                f"{base}/deployment.toml",
                f'id = "20261122-153012-{n % 65536:04x}"\n'
                f'image = "registry.rise.dev/app-{n}@{_digest(n)}"\n'
                'created_by = "user:bench"\ncreated_at = 2026-11-22T15:30:12Z\n',
            )
        return f"seed {count} projects"

    repo.commit(change, Author("bench"))
    repo.pack_loose_objects()
    return repo


class Server:
    def __init__(self, data: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
        env.update(RISE_ADMIN_PASSWORD=ADMIN_PASSWORD, RISE_WEBHOOK_SECRET=SECRET)
        self.log = (data.parent / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "server",
                "--data-dir",
                str(data),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=self.log,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {self.log.name}")
            time.sleep(0.05)
        self.token = self._token("admin", ADMIN_PASSWORD)

    def _token(self, user: str, password: str) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/auth/login", json={"username": user, "password": password}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def peak_rss_mb(self) -> float:
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS:")

    def _status_mb(self, key: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(60)
        self.log.close()
        return code


def load(
    request: Callable[[httpx.Client, int], httpx.Response],
    total: int,
    server: Server,
    expect: int,
    workers: int = WORKERS,
) -> tuple[list[float], float]:
    """``total`` requests from ``workers`` threads; per-request seconds and the wall time."""
    local = threading.local()
    times: list[float] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        if not hasattr(local, "client"):
            local.client = server.client()
        start = time.perf_counter()
        response = request(local.client, n)
        elapsed = time.perf_counter() - start
        if response.status_code != expect:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        with lock:
            times.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(total)))
    return times, time.perf_counter() - started


def report(name: str, times: list[float], wall: float, workers: int = WORKERS) -> None:
    figure(f"{name}: requests/s ({workers} clients)", len(times) / wall)
    figure(f"{name}: p50", median_ms(times), "ms")
    figure(f"{name}: p99", p99_ms(times), "ms")


def bench_api(workdir: Path, projects: int, requests: int) -> dict[str, float]:
    seed(workdir / "data" / "state.git", projects)
    server = Server(workdir / "data")
    try:
        with server.client() as client:
            start = time.perf_counter()
            rows = client.get("/api/v1/projects").json()
            cold = time.perf_counter() - start
        assert len(rows) == projects, len(rows)
        print(f"GET /api/v1/projects with {projects:,} projects")
        figure("first call (cold snapshot)", cold * 1000, "ms")
        times, wall = load(lambda c, n: c.get("/api/v1/projects"), requests, server, 200)
        report("list", times, wall)
        list_p99 = p99_ms(times)

        print("POST /api/v1/projects/{p}/deployments (one commit each, 10 projects)")
        times, wall = load(
            lambda c, n: c.post(
                f"/api/v1/projects/app-{n % 10}/deployments",
                json={"image": f"registry.rise.dev/app-{n % 10}@{_digest(10**6 + n)}"},
            ),
            requests // 2,
            server,
            201,
        )
        report("deploy", times, wall)
        deploy_rate = len(times) / wall

        print(f"GET /api/v1/projects/{{p}}/deployments?limit=1000 x {HISTORY_READS:,}")
        times, wall = load(
            lambda c, n: c.get(f"/api/v1/projects/app-{n % 10}/deployments?limit=1000"),
            HISTORY_READS,
            server,
            200,
            workers=HISTORY_WORKERS,
        )
        report("history", times, wall, workers=HISTORY_WORKERS)
        rss = server.rss_mb()
        figure(f"server RSS after {HISTORY_READS:,} history reads", rss, "MiB")
        figure("server peak RSS", server.peak_rss_mb(), "MiB")
        return {"list_p99": list_p99, "deploy_rate": deploy_rate, "history_rss": rss}
    finally:
        server.stop()


def bench_webhooks(workdir: Path, projects: int, requests: int) -> float:
    repo = seed(workdir / "data" / "state.git", projects)
    server = Server(workdir / "data")
    try:
        print(f"POST /webhooks/git with {projects:,} projects (pushes land every 50 ms)")
        pusher = Pusher(repo)
        pusher.start()

        def deliver(client: httpx.Client, n: int) -> httpx.Response:
            body = json.dumps({"ref": "refs/heads/main", "after": f"{n:040x}"}).encode()
            digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": f"sha256={digest}",
            }
            return client.post("/webhooks/git", content=body, headers=headers)

        times, wall = load(deliver, requests, server, 202, workers=1)
        report("webhook 202, one forge", times, wall, workers=1)
        answer_p99 = p99_ms(times)
        times, wall = load(deliver, requests, server, 202)
        report("webhook 202, burst", times, wall)
        metrics = httpx.get(f"{server.url}/metrics").text
        signals = next(
            line.split()[-1]
            for line in metrics.splitlines()
            if line.startswith("rise_reconcile_signals_total ")
        )
        pusher.stop()
        figure("pushes landed / reconciles signalled", f"{pusher.pushes} / {int(signals)}")
        figure("server peak RSS", server.peak_rss_mb(), "MiB")
        return answer_p99
    finally:
        server.stop()


class Pusher(threading.Thread):
    """Commits to the state repo the way `git push` would, while the webhooks arrive."""

    def __init__(self, repo: StateRepo, every: float = 0.05):
        super().__init__(daemon=True)
        self._repo = repo
        self._every = every
        self._done = threading.Event()
        self.pushes = 0

    def run(self) -> None:
        while not self._done.wait(self._every):
            n = self.pushes

            def change(edit: Edit, n: int = n) -> str:
                edit.write(f"projects/app-{n}/project.toml", 'owner = "user:pusher"\n')
                return f"push {n}"

            self._repo.commit(change, Author("pusher"))
            self.pushes += 1

    def stop(self) -> None:
        self._done.set()
        self.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--webhook-projects", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        api = bench_api(Path(a), args.projects, args.requests)
        webhook_p99 = bench_webhooks(Path(b), args.webhook_projects, args.requests)
    verdict = "meets" if webhook_p99 < 50 else "MISSES"
    rss_verdict = "meets" if api["history_rss"] < RSS_GOAL_MB else "MISSES"
    print(
        f"summary: list p99 {api['list_p99']:.1f} ms at {args.projects:,} projects, "
        f"{api['deploy_rate']:.0f} deploys/s, RSS {api['history_rss']:.0f} MiB after "
        f"{HISTORY_READS:,} history reads ({rss_verdict} the {RSS_GOAL_MB} MiB goal), webhook "
        f"p99 {webhook_p99:.1f} ms at {args.webhook_projects:,} projects ({verdict} the 50 ms goal)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
