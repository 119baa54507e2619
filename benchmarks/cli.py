"""``rise`` command-line figures, each a fresh ``python -m cli.main`` process as a user runs it:

- ``rise --help``: interpreter start plus the CLI's imports (goal: under 0.25 s wall);
- ``rise p ls`` against a real ``rise server`` holding 1,000 projects;
- ``rise d c PROJECT --image IMAGE@sha256:… --no-follow``: from the command to the deployment
  committed in the state repository (the API call, the commit, the answer).

    python benchmarks/cli.py [--projects 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure
from benchmarks.api import ROOT, Server, seed
from reconciler.state import StateRepo

HELP_GOAL = 0.25


def measure(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``repeat`` runs of ``command``.

    CPU time is the figure to compare across runs on a busy machine: wall time there
    includes waiting for a core. A failed run stops the benchmark.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def report(name: str, command: list[str], env: dict[str, str], repeat: int) -> float:
    wall, cpu = measure(command, env, repeat)
    figure(f"{name}: wall", wall, "s")
    figure(f"{name}: cpu (user+sys)", cpu, "s")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rise = [sys.executable, "-m", "cli.main"]
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        seed(data / "state.git", args.projects)
        server = Server(data)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
            env.update(
                PYTHONPATH=str(ROOT),
                XDG_CONFIG_HOME=str(Path(folder) / "config"),
                RISE_URL=server.url,
                RISE_TOKEN=server.token,
            )
            print(f"rise CLI ({args.repeat} runs each, medians; each run a fresh process)")
            bare = report("python -c pass (the floor)", [sys.executable, "-c", "pass"], env, 3)
            help_s = report("rise --help", [*rise, "--help"], env, args.repeat)
            ls_s = report(
                f"rise p ls ({args.projects:,} projects)", [*rise, "p", "ls"], env, args.repeat
            )
            repo = StateRepo(data / "state.git")
            before = repo.head()
            image = f"registry.rise.dev/app-0@sha256:{'ab' * 32}"
            deploy = [*rise, "d", "c", "app-0", "--image", image, "--no-follow"]
            deploy_s = report("rise d c --image (to the commit)", deploy, env, args.repeat)
            commits = sum(1 for c in repo.log(limit=args.repeat + 1) if str(c.id) != before)
            figure("deployments committed", commits)
        finally:
            server.stop()
    verdict = "meets" if help_s < HELP_GOAL else "MISSES"
    print(
        f"summary: rise --help {help_s:.3f} s ({verdict} the {HELP_GOAL} s goal), "
        f"rise p ls {ls_s:.3f} s at {args.projects:,} projects, "
        f"rise d c --image {deploy_s:.3f} s to the commit (python itself starts in {bare:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
