"""Reconciler figures against the loopback Kubernetes API (SPEC §11, issue 6).

The API double runs in its own process, so the peak RSS printed is the controller's (plus
the state repo it reads). Measures, for N projects of 6 objects each:

- initial sync: projects/s and requests (client-side counts, by verb);
- no-op full resync: requests (goal: one paginated LIST per kind, 0 writes) and time (goal
  < 5 s): the first after the initial sync (every Deployment's status moved, so each is
  compared field by field once), then a steady one, with where its time goes, then one with
  the render cache cold;
- one-project change: requests (goal: only that project's changed objects) and controller
  time (goal < 100 ms, independent of N), for an env change and a blue/green image change;
- peak RSS (goal < 300 MB).

Wall times include the double's own work (encoding every LIST page, on the other core);
the controller's CPU time is printed beside them.

    python benchmarks/reconcile.py [--projects 10000] [--workers 4] [--changes 20]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, p99_ms, peak_rss_mb
from benchmarks.state_repo import DIGEST, build
from reconciler.desired import Renderer
from reconciler.loop import PassReport, Reconciler
from reconciler.render import RenderSettings
from reconciler.runtimes.base import DesiredIndex
from reconciler.runtimes.installation import default_installation
from reconciler.runtimes.kubeapi import KubeApi
from reconciler.runtimes.kubernetes import KubernetesRuntime
from reconciler.state import Author, Edit, StateRepo

ROOT = Path(__file__).resolve().parents[1]
OTHER_DIGEST = "sha256:" + "fedcba9876543210" * 4


@contextmanager
def clocks() -> Iterator[list[float]]:
    """``with clocks() as c:`` then ``c == [wall seconds, this process's CPU seconds]``."""
    out: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        out += [time.perf_counter() - wall, time.process_time() - cpu]


def rss_now_mb() -> float:
    """This process's resident set size now (Linux), to see which phase holds the peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _start_double(kubeconfig: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.kubeapi", "--kubeconfig", str(kubeconfig)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    print(f"loopback API double (pid {server.pid}) at {server.stdout.readline().strip()}")
    return server


def _change(repo: StateRepo, project: str, file: str, change: Callable[[str], str]) -> None:
    def edit(e: Edit) -> str:
        path = f"projects/{project}/{file}"
        data = e.read(path)
        assert data is not None
        e.write(path, change(data.decode()))
        return f"bench: change {project}"

    repo.commit(edit, Author("bench"))


def _set_variable(value: int, text: str) -> str:
    """A new value of the project's env variable: its Deployment, and only it, changes."""
    return text.split("INDEX = ")[0] + f'INDEX = "changed-{value}"\n'


def _new_deployment(text: str) -> str:
    """A new deployment id and image: a new Deployment beside the old one (blue/green)."""
    return text.replace(DIGEST, OTHER_DIGEST).replace("-153012-", "-153013-")


def _by_verb(runtime: KubernetesRuntime) -> str:
    counts = runtime.request_counts
    return ", ".join(f"{verb} {n:,}" for verb, n in sorted(counts.items())) or "none"


def _pass(reconciler: Reconciler, runtime: KubernetesRuntime, **kw: bool) -> PassReport:
    runtime.api.reset_counts()
    report = reconciler.run_pass(**kw)
    assert report.error is None, report.error
    return report


def _resync(
    label: str, reconciler: Reconciler, runtime: KubernetesRuntime, repeat: int = 1
) -> float:
    """``repeat`` no-op full resyncs; prints the median (and, repeated, the spread)."""
    walls, cpus = [], []
    for _ in range(repeat):
        with clocks() as c:
            report = _pass(reconciler, runtime, full=True)
        walls.append(c[0])
        cpus.append(c[1])
    median = statistics.median(walls)
    spread = f" (of {repeat}: {min(walls):.2f}-{max(walls):.2f} s)" if repeat > 1 else ""
    figure(f"{label}: time", median, "s")
    figure(f"{label}: controller CPU", statistics.median(cpus), "s")
    figure(f"{label}: requests", sum(runtime.request_counts.values()))
    print(f"    {_by_verb(runtime)}; writes {runtime.api.writes}; {report.summary()}{spread}")
    print(f"    RSS now {rss_now_mb():.0f} MiB, peak so far {peak_rss_mb():.0f} MiB")
    return median


def _breakdown(repo: StateRepo, renderer: Renderer, runtime: KubernetesRuntime) -> None:
    """Where a steady no-op resync's time goes, step by step."""
    with clocks() as c:
        snapshot = repo.snapshot()
        desired = [renderer.render(s, s.tree_id) for s in snapshot.projects.values() if s.valid]
        index = DesiredIndex(desired)
    figure("  git snapshot + cached renders", c[0], "s")
    with clocks() as c:
        runtime.inventory(index)
    figure("  inventory (LIST + compare): time", c[0], "s")
    figure("  inventory: controller CPU", c[1], "s")


def _changes(
    repo: StateRepo, reconciler: Reconciler, runtime: KubernetesRuntime, count: int, n: int
) -> tuple[list[float], list[float], list[int]]:
    walls, cpus, requests = [], [], []
    for i in range(n):
        project = f"app-{(i * 7919) % count}"
        _change(repo, project, "env.toml", functools.partial(_set_variable, i))
        with clocks() as c:
            report = _pass(reconciler, runtime)
        assert report.projects == 1 and not report.failed, report
        walls.append(c[0])
        cpus.append(c[1])
        requests.append(sum(runtime.request_counts.values()))
    return walls, cpus, requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--changes", type=int, default=20, help="one-project changes timed")
    args = parser.parse_args()
    count = args.projects

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        server = _start_double(kubeconfig)
        try:
            print(f"reconcile benchmark: {count:,} projects, {args.workers} workers")
            repo = build(Path(tmp) / "state.git", count)
            repo.pack_loose_objects()
            print(f"    state repo built: RSS {rss_now_mb():.0f} MiB, peak {peak_rss_mb():.0f} MiB")
            api = KubeApi.from_kubeconfig(str(kubeconfig), timeout=120)
            runtime = KubernetesRuntime(api, installation=default_installation(repo))
            renderer = Renderer(RenderSettings(), None, decrypt=True)
            reconciler = Reconciler(repo, runtime, renderer, workers=args.workers)

            with clocks() as c:
                initial = _pass(reconciler, runtime)
            assert not initial.failed, list(initial.failed.items())[:3]
            figure("initial sync: time", c[0], "s")
            figure("initial sync: rate", count / c[0], "projects/s")
            figure("initial sync: controller CPU", c[1], "s")
            figure("initial sync: requests", sum(runtime.request_counts.values()))
            print(f"    {_by_verb(runtime)}; {initial.summary()}")
            print(f"    RSS now {rss_now_mb():.0f} MiB, peak so far {peak_rss_mb():.0f} MiB")

            _resync("first resync after it", reconciler, runtime)
            steady = _resync("no-op full resync (median)", reconciler, runtime, repeat=5)
            _breakdown(repo, renderer, runtime)
            renderer.retain(())
            _resync("no-op full resync, render cache cold", reconciler, runtime)

            walls, cpus, requests = _changes(repo, reconciler, runtime, count, args.changes)
            change = statistics.median(walls) * 1000
            figure("one-project change: time (median)", change, "ms")
            figure("one-project change: time (p99)", p99_ms(walls), "ms")
            figure(
                "one-project change: controller CPU (median)", statistics.median(cpus) * 1000, "ms"
            )
            figure("one-project change: requests (median)", int(statistics.median(requests)))
            print(f"    last one: {_by_verb(runtime)}")

            project = f"app-{count // 2}"
            _change(repo, project, "deployment.toml", _new_deployment)
            with clocks() as c:
                report = _pass(reconciler, runtime)
            figure("blue/green image change: time", c[0] * 1000, "ms")
            figure("blue/green image change: controller CPU", c[1] * 1000, "ms")
            figure("blue/green image change: requests", sum(runtime.request_counts.values()))
            status = reconciler.status(project)
            print(
                f"    {_by_verb(runtime)}; {report.summary()}; status "
                f"{status.state if status else None}"
            )

            rss = peak_rss_mb()
            figure("peak RSS (controller + state repo)", rss, "MiB")
            print(
                f"SUMMARY reconcile projects={count} initial={count / initial.seconds:.0f}"
                f"projects/s resync={steady:.2f}s changes={change:.1f}ms/"
                f"{int(statistics.median(requests))}req rss={rss:.0f}MiB"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
