"""Reconciler figures against the loopback Kubernetes API or a real cluster (SPEC §11,
issues 6 and 15).

The API double runs in its own process, so the peak RSS printed is the controller's (plus
the state repo it reads); ``--kubeconfig`` runs against that cluster instead (its own
installation id and namespace prefix; its namespaces are deleted at the end). Measures, for
N projects of 6 objects each:

- raw baseline: plain server-side applies of the same objects (other namespaces) from 8
  keep-alive connections, and rise's initial sync rate as a ratio of it (goal >= 0.8);
- initial sync: projects/s and requests (client-side counts, by verb);
- no-op full resync: requests (goal: one paginated LIST per kind, 0 writes) and time (goal
  < 5 s): the first after the initial sync (every Deployment's status moved, so each is
  compared field by field once), then a steady one, with where its time goes, then one with
  the render cache cold;
- one-project change: requests (goal: only that project's changed objects) and controller
  time (goal < 100 ms, independent of N), for an env change and a blue/green image change;
- peak RSS (goal < 300 MB);
- the steady no-op resync as a ratio of bare LISTs of the same kinds (goal <= 1.2).

Wall times include the double's own work (encoding every LIST page, on the other core);
the controller's CPU time is printed beside them.

    python benchmarks/reconcile.py [--projects 10000] [--workers 4] [--changes 20]
                                   [--kubeconfig PATH] [--raw-connections 8]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, p99_ms, peak_rss_mb
from benchmarks.raw_kube import Endpoint, bare_lists, raw_apply
from benchmarks.state_repo import DIGEST, build
from reconciler.desired import Renderer
from reconciler.loop import PassReport, Reconciler
from reconciler.render import RenderSettings
from reconciler.runtimes.base import DesiredIndex
from reconciler.runtimes.kubeapi import KubeApi, kind
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
        # On a real cluster the pass also looks again at rollouts still in progress, so it
        # may hold more projects than the one changed; only that one may be written.
        assert report.applied == 1 and not report.failed, report
        walls.append(c[0])
        cpus.append(c[1])
        requests.append(sum(runtime.request_counts.values()))
    return walls, cpus, requests


def _raw_baseline(
    repo: StateRepo, endpoint: Endpoint, prefix: str, connections: int, count: int
) -> float:
    """Projects/s of plain server-side applies of the same objects, in other namespaces."""
    settings = RenderSettings(namespace_format=f"{prefix}raw-{{project}}")
    renderer = Renderer(settings, None, decrypt=True)
    projects = []
    for state in repo.snapshot().projects.values():
        objects = renderer.render(state, state.tree_id)
        projects.append(
            [(kind(d.ref.kind).path(d.ref.name, d.ref.namespace), d.raw) for d in objects]
        )
    seconds = raw_apply(endpoint, projects, connections)
    rate = count / seconds
    figure(f"raw applies, {connections} connections: time", seconds, "s")
    figure(f"raw applies, {connections} connections: rate", rate, "projects/s")
    return rate


def _against_bare_lists(
    reconciler: Reconciler, runtime: KubernetesRuntime, endpoint: Endpoint, pairs: int = 5
) -> tuple[float, float]:
    """The no-op resync's time as a ratio of bare LISTs of the same kinds, measured in
    alternating pairs so that a busy machine weighs on both alike; (median ratio, median
    seconds of the LISTs)."""
    ratios, lists = [], []
    for _ in range(pairs):
        with clocks() as c:
            _pass(reconciler, runtime, full=True)
        seconds, _ = bare_lists(endpoint, runtime.kinds, runtime.selector, runtime.page_size)
        ratios.append(c[0] / seconds)
        lists.append(seconds)
    return statistics.median(ratios), statistics.median(lists)


def _cleanup(api: KubeApi, prefix: str) -> None:
    """A real cluster's namespaces of this run go (the namespace controller does the rest)."""
    path = kind("Namespace").collection()
    doomed = [i["metadata"]["name"] for i in api.list(path)]
    for name in (n for n in doomed if n.startswith(prefix)):
        api.delete(kind("Namespace").path(name))
    print(f"deleting this run's namespaces ({prefix}*) on the cluster")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--changes", type=int, default=20, help="one-project changes timed")
    parser.add_argument("--kubeconfig", help="run against this cluster instead of the double")
    parser.add_argument("--raw-connections", type=int, default=8)
    args = parser.parse_args()
    count = args.projects
    prefix = f"bench{uuid.uuid4().hex[:5]}"

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(args.kubeconfig) if args.kubeconfig else Path(tmp) / "kubeconfig"
        server = None if args.kubeconfig else _start_double(kubeconfig)
        api = KubeApi.from_kubeconfig(str(kubeconfig), timeout=120)
        where = f"the cluster at {api.host}" if server is None else "the double"
        try:
            print(f"reconcile benchmark: {count:,} projects, {args.workers} workers, on {where}")
            repo = build(Path(tmp) / "state.git", count)
            repo.pack_loose_objects()
            print(f"    state repo built: RSS {rss_now_mb():.0f} MiB, peak {peak_rss_mb():.0f} MiB")
            endpoint = Endpoint.from_kubeconfig(kubeconfig)
            raw = _raw_baseline(repo, endpoint, prefix, args.raw_connections, count)
            runtime = KubernetesRuntime(api, installation=prefix)
            settings = RenderSettings(namespace_format=f"{prefix}-{{project}}")
            renderer = Renderer(settings, None, decrypt=True)
            reconciler = Reconciler(repo, runtime, renderer, workers=args.workers)

            with clocks() as c:
                initial = _pass(reconciler, runtime)
            assert not initial.failed, list(initial.failed.items())[:3]
            rate = count / c[0]
            figure("initial sync: time", c[0], "s")
            figure("initial sync: rate", rate, "projects/s")
            figure("initial sync: rate / raw applies", rate / raw, "x")
            figure("initial sync: controller CPU", c[1], "s")
            figure("initial sync: requests", sum(runtime.request_counts.values()))
            print(f"    {_by_verb(runtime)}; {initial.summary()}")
            print(f"    RSS now {rss_now_mb():.0f} MiB, peak so far {peak_rss_mb():.0f} MiB")

            _resync("first resync after it", reconciler, runtime)
            steady = _resync("no-op full resync (median)", reconciler, runtime, repeat=5)
            ratio, lists = _against_bare_lists(reconciler, runtime, endpoint)
            figure("bare LISTs of the same kinds (median)", lists, "s")
            figure("no-op resync / bare LISTs (median of 5 pairs)", ratio, "x")
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
                f"SUMMARY reconcile on={'cluster' if server is None else 'double'} "
                f"projects={count} initial={rate:.0f}projects/s raw={raw:.0f}projects/s "
                f"ratio={rate / raw:.2f} resync={steady:.2f}s resync/lists={ratio:.2f} "
                f"changes={change:.1f}ms/{int(statistics.median(requests))}req rss={rss:.0f}MiB"
            )
        finally:
            if server is None:
                _cleanup(api, prefix)
            else:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
