"""Render and diff figures (issue: render, validate and diff manifests).

Measures: projects rendered per second with the built-in templates — without validation,
validated cold (every object new to the validator) and validated warm (a resync where nothing
changed: each object's content hash was validated before) — and ``rise diff`` between two
commits of a 10,000-project repository where one project changed, as the installed command
(a new process, imports included) and in-process, with a 10-project change for proportion.
Rates are by CPU time, with wall time beside them: on a shared machine other processes stretch
wall time but not the CPU this work takes. Goals: >= 2,000 projects/s; rise diff < 0.5 s.

    python benchmarks/render.py [--projects 2000] [--repo-projects 10000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms, peak_rss_mb, samples, timed
from benchmarks.state_repo import build
from reconciler.render import RenderSettings, render_project
from reconciler.secrets import SecretBox
from reconciler.state import Author, Edit, ProjectState, StateRepo
from schemas import AppConfig, DeploymentFile, EnvFile, ProjectFile, load_toml

DIGEST = "sha256:" + "0123456789abcdef" * 4
BOX = SecretBox(bytes(range(32)))


def _states(count: int) -> list[ProjectState]:
    """Distinct projects like real ones: vars on all, secrets on a third, private a fifth."""
    out = []
    for n in range(count):
        name = f"app-{n}"
        secrets = (
            f'[secrets]\nDB_URL = "{BOX.encrypt(name, "DB_URL", f"postgres://db/{n}")}"\n'
            if n % 3 == 0
            else ""
        )
        out.append(
            ProjectState(
                name=name,
                tree_id="",
                project=load_toml(
                    f'owner = "user:u{n % 97}"\nvisibility = '
                    f'"{"private" if n % 5 == 0 else "public"}"\n',
                    ProjectFile,
                ),
                app=load_toml(
                    f'[deploy]\nreplicas = {1 + n % 3}\ncpu = "250m"\n'
                    f'health = {{ path = "/health" }}\n[env]\nINDEX = "{n}"\n',
                    AppConfig,
                ),
                deployment=load_toml(
                    f'id = "20261122-153012-{n % 65536:04x}"\n'
                    f'image = "registry.rise.dev/{name}@{DIGEST}"\n'
                    'created_by = "user:bench"\ncreated_at = 2026-11-22T15:30:12Z\n',
                    DeploymentFile,
                ),
                env=load_toml(f'[vars]\nLOG_LEVEL = "info"\nN = "{n}"\n{secrets}', EnvFile),
            )
        )
    return out


def _rate(states: list[ProjectState], settings: RenderSettings, label: str) -> float:
    """Print and return projects/s by this process's CPU time (wall time is shown too: on a
    shared machine other processes stretch it, CPU time they do not)."""
    per_project: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for state in states:
        start = time.perf_counter()
        render_project(state, settings, BOX)
        per_project.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate = len(states) / cpu
    figure(f"projects/s, {label}", rate)
    figure("  by wall time", len(states) / wall)
    figure(
        "  per project median / p99",
        f"{median_ms(per_project):.2f} / {p99_ms(per_project):.2f}",
        "ms",
    )
    return rate


def _render_figures(count: int) -> tuple[float, float, float]:
    states = _states(count)
    plain = RenderSettings(forward_auth_url="https://rise.example/auth/ingress", validate=False)
    validated = RenderSettings(forward_auth_url="https://rise.example/auth/ingress")
    with timed() as t:
        render_project(states[0], validated, BOX)  # loads templates and schemas once
    figure("first render (templates + schemas loaded)", t[0] * 1000, "ms")
    objects = sum(len(render_project(s, plain, BOX)) for s in states[:100]) / 100
    figure("objects per project", objects)
    rate = _rate(states, plain, "no validation")
    cold = _rate(states[1:], validated, "validated, cold (all content new)")
    warm = _rate(states[1:], validated, "validated, warm (resync, no change)")
    return rate, cold, warm


def _touch(repo: StateRepo, projects: list[str], value: int) -> tuple[str, str]:
    before = repo.head() or ""

    def change(edit: Edit) -> str:
        for name in projects:
            edit.write(
                f"projects/{name}/.rise.toml", f'project = "{name}"\n[deploy]\nreplicas = {value}\n'
            )
        return f"rescale {len(projects)} projects"

    repo.commit(change, Author("bench"))
    return before, repo.head() or ""


def _diff_figures(count: int) -> float:
    rise = shutil.which("rise")
    if rise is None:
        raise SystemExit("the rise command is not installed: pip install -e .")
    with tempfile.TemporaryDirectory() as tmp:
        with timed() as t:
            repo = build(Path(tmp) / "state.git", count)
            repo.pack_loose_objects()
        figure(f"build a {count:,}-project repo", t[0], "s")
        # replicas = 7 is a value no generated project has, so every touched project changes.
        one = _touch(repo, [f"app-{count // 2}"], 7)
        ten = _touch(repo, [f"app-{n}" for n in range(0, count, count // 10)][:10], 7)

        def command(refs: tuple[str, str]) -> None:
            args = [rise, "diff", "--state", repo.path, "--from", refs[0], "--to", refs[1]]
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            assert done.returncode == 1, done.stderr

        def help_page() -> None:
            subprocess.run([rise, "--help"], capture_output=True, check=True)

        seconds = 0.0
        for label, run in (
            ("rise diff, 1 project changed", lambda: command(one)),
            ("rise diff, 10 projects changed", lambda: command(ten)),
            ("  for scale: rise --help", help_page),
        ):
            cpu, wall = _child_cpu(run, 5)
            figure(f"{label} (process CPU / wall, median)", f"{cpu:.0f} / {wall:.0f}", "ms")
            seconds = seconds or cpu / 1000

        from click.testing import CliRunner

        from cli.main import cli

        def in_process(refs: tuple[str, str]) -> None:
            args = ["diff", "--state", repo.path, "--from", refs[0], "--to", refs[1]]
            assert CliRunner().invoke(cli, args).exit_code == 1

        in_process(one)  # imports and schema loading happen once per process
        figure(
            "rise diff in-process, 1 project (median)",
            median_ms(samples(lambda: in_process(one), 10)),
            "ms",
        )
        figure(
            "rise diff in-process, 10 projects (median)",
            median_ms(samples(lambda: in_process(ten), 10)),
            "ms",
        )
        return seconds


def _child_cpu(run: Callable[[], None], repeat: int) -> tuple[float, float]:
    """Median CPU (user + system) and wall milliseconds of a command run ``repeat`` times."""
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run()
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return median_ms(cpu), median_ms(wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--repo-projects", type=int, default=10_000)
    args = parser.parse_args()
    print(f"render benchmark: {args.projects:,} distinct projects, built-in templates")
    rate, cold, warm = _render_figures(args.projects)
    print(f"rise diff benchmark: {args.repo_projects:,}-project state repository")
    diff_seconds = _diff_figures(args.repo_projects)
    figure("peak RSS", peak_rss_mb(), "MiB")
    print(
        f"SUMMARY render projects/s={rate:.0f} (validated cold {cold:.0f}, warm {warm:.0f}) "
        f"rise-diff-10k={diff_seconds:.2f}s(cpu) rss={peak_rss_mb():.0f}MiB"
    )


if __name__ == "__main__":
    main()
