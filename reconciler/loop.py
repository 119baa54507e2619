"""The reconcile loop (SPEC §5): state repo → render → runtime, incrementally, with status.

A **pass** is one of two kinds:

- **full** (the first, then every ``resync_seconds``, or on a signal for all projects): read
  every project at HEAD, render it (renders are cached by the project's tree id, so an
  unchanged project costs a dictionary lookup), read the runtime's whole inventory (one
  paginated LIST per kind) and sync every project. This is what finds drift: a live object
  edited or deleted by hand. With nothing drifted it writes nothing.
- **incremental** (HEAD moved, a signal named projects, a retry or a rollout check is due):
  only those projects, against the live state kept from earlier passes; the git trees say
  which projects changed, so the cost follows the change, not the size of the repository.

Per project failures are isolated: an invalid project is reported and skipped (its live
objects are not pruned), a failing one is retried with capped exponential backoff on the
injected clock, and neither holds up the others. Status per project and per deployment is
kept in memory, never committed. With a ``LeaderElector`` only the Lease holder passes.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.desired import Renderer
from reconciler.health import ProjectHealth
from reconciler.render import RenderError, RenderSettings
from reconciler.runtimes.base import (
    Desired,
    DesiredIndex,
    NotLeader,
    Runtime,
    SyncError,
    SyncResult,
)
from reconciler.runtimes.build import DockerSettings, LeaseSettings, build_runtime
from reconciler.state import ProjectState, StateError, StateRepo
from reconciler.status import ProjectStatus, StatusFeed
from reconciler.timeline import Timelines
from schemas import Problem

if TYPE_CHECKING:
    from reconciler.leader import LeaderElector
    from reconciler.secrets import SecretBox
    from schemas import ServerConfig

__all__ = ["Backoff", "DockerSettings", "LeaseSettings", "PassReport", "Reconciler"]
# DockerSettings and LeaseSettings live with build_runtime; importers of this module keep them.

log = logging.getLogger("rise.reconciler")

_KEEP_OLD_DEPLOYMENTS = 10
# A full collection scans everything a 10,000-project controller holds (0.5 s); the records
# it keeps make almost no reference cycles, so most full passes collect only what is new.
_THOROUGH_COLLECTION_EVERY = 10


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReconcileRecorder(Protocol):
    """Where finished reconciles are counted (the server's ``Metrics``)."""

    def record_reconcile(self, seconds: float, outcome: str) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """``base * 2**(failures-1)`` seconds, at most ``cap``."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(failures - 1, 0)))


@dataclass
class PassReport:
    """What one pass did; ``summary()`` is the line ``rise reconcile`` prints."""

    number: int
    full: bool
    commit: str | None = None
    projects: int = 0
    applied: int = 0
    unchanged: int = 0
    pruned: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    deploying: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    """The pass as a whole could not run (state repo unreadable, inventory failed...)."""
    skipped: str | None = None
    """Why no pass ran (another replica holds the lease)."""
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"applied {self.applied}, unchanged {self.unchanged}, pruned {self.pruned}, "
            f"failed {len(self.failed)}"
        )

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None and not self.failed


@dataclass
class _Retry:
    failures: int
    due: float


@dataclass
class _Job:
    name: str
    state: ProjectState | None  # None: the project left git
    desired: Sequence[Desired] = ()
    problem: str | None = None  # why it is not synced (invalid or cannot be rendered)


class Reconciler:
    """The controller: implements ``reconciler.status.Controller`` for the server."""

    def __init__(
        self,
        repo: StateRepo,
        runtime: Runtime[Any],
        renderer: Renderer,
        *,
        elector: LeaderElector | None = None,
        resync_seconds: float = 300.0,
        poll_seconds: float = 10.0,
        rollout_poll_seconds: float = 2.0,
        workers: int = 4,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        on_pass: Callable[[PassReport], None] | None = None,
        recorder: ReconcileRecorder | None = None,
    ):
        self.repo = repo
        self.runtime = runtime
        self.renderer = renderer
        self.elector = elector
        self.resync_seconds = resync_seconds
        self.poll_seconds = poll_seconds
        self.rollout_poll_seconds = rollout_poll_seconds
        self.workers = workers
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._now = now
        self._on_pass = on_pass
        self._recorder = recorder
        self._lock = threading.RLock()
        self._pass_lock = threading.Lock()
        self._status: dict[str, ProjectStatus] = {}
        self._deployments: dict[str, dict[str, ProjectStatus]] = {}
        self.feed = StatusFeed()
        """Every status recorded, for the dashboard's event stream."""
        self.timelines = Timelines(self.feed)
        """When each deployment was applied, rolled out, healthy or failed (the dashboard)."""
        self._live: dict[str, Any] = {}
        self._retry: dict[str, _Retry] = {}
        self._pending: set[str] = set()
        self._want_full = True
        self._last_commit: str | None = None
        self._full_due = 0.0
        self._failed_passes = 0
        self._quiet_until = 0.0  # after a failed pass: back off before the next
        self._passes = 0
        self._full_passes = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- Controller ------------------------------------------------------------------------

    def signal(self, reason: str, projects: set[str] | None = None) -> None:
        with self._lock:
            if projects is None:
                self._want_full = True
            else:
                self._pending.update(projects)
            before = {name: self._status.get(name) for name in projects or ()}
        for name, status in before.items():
            self.feed.publish(name, status, desired=True)
        log.debug("reconcile requested: %s", reason, extra={"projects": sorted(projects or [])})
        self._wake.set()

    def status(self, project: str) -> ProjectStatus | None:
        with self._lock:
            return self._status.get(project)

    def deployments(self, project: str) -> dict[str, ProjectStatus]:
        """Status of each deployment of ``project`` the loop has seen (newest state first)."""
        with self._lock:
            return dict(self._deployments.get(project, {}))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        if self.elector is not None:
            self.elector.start()
        self._thread = threading.Thread(target=self._run, name="rise-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Finish the projects in flight (up to ``timeout`` seconds), then stop; the lease
        is given up so another replica takes over at once."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.elector is not None:
            self.elector.stop()

    # -- the background loop ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._idle_seconds())
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self._work_due():
                continue
            try:
                report = self.run_pass()
            except Exception:  # a bug must not end the loop; the next pass starts clean
                log.exception("reconcile pass failed")
                with self._lock:
                    self._want_full = True
                self._stopping.wait(self.backoff.cap / 10)
                continue
            if report.skipped and self.elector is not None:
                self._stopping.wait(self.elector.retry_seconds)

    def _idle_seconds(self) -> float:
        with self._lock:
            due = [self._full_due, *(r.due for r in self._retry.values())]
            due = [max(d, self._quiet_until) for d in due]
        return max(0.05, min(self.poll_seconds, min(due) - self._clock()))

    def _work_due(self) -> bool:
        now = self._clock()
        with self._lock:
            if now < self._quiet_until:
                return False
            if self._want_full or self._pending or now >= self._full_due:
                return True
            if any(r.due <= now for r in self._retry.values()):
                return True
        try:  # a local look only: a remote is fetched by the passes a signal or resync starts
            return self.repo.head() != self._last_commit
        except StateError as exc:
            log.warning("cannot read the state repository: %s", exc)
            return False

    # -- one pass ----------------------------------------------------------------------------

    def run_pass(self, full: bool | None = None) -> PassReport:
        """One pass now (``full`` None: whichever is due). Used by the loop, the CLI's
        ``--once`` and tests."""
        with self._pass_lock:
            started = self._clock()
            with self._lock:
                self._passes += 1
                if full is None:
                    full = (
                        self._want_full or self._last_commit is None or (started >= self._full_due)
                    )
            report = PassReport(self._passes, full)
            if not self._leading():
                report.skipped = self.elector.why_not() if self.elector else "not leading"
                with self._lock:
                    self._want_full = True
                return self._finish(report, started)
            try:
                self.repo.fetch()
                report.commit = self.repo.head()
                if full:
                    self._full_pass(report)
                else:
                    self._incremental_pass(report)
            except (StateError, SyncError) as exc:
                report.error = str(exc)
                with self._lock:
                    self._want_full = True
                    self._failed_passes += 1
                    self._quiet_until = started + self.backoff.delay(self._failed_passes)
                return self._finish(report, started)
            with self._lock:
                self._failed_passes = 0
            return self._finish(report, started)

    def _leading(self) -> bool:
        elector = self.elector
        if elector is None or elector.is_leader():
            return True
        return elector.try_acquire_or_renew()

    def _finish(self, report: PassReport, started: float) -> PassReport:
        report.seconds = self._clock() - started
        if report.error:
            log.error("reconcile pass %d: %s", report.number, report.error)
        elif not report.skipped:
            log.info(
                "reconcile pass %d (%s): %s",
                report.number,
                "full" if report.full else "incremental",
                report.summary(),
                extra={"commit": report.commit, "seconds": round(report.seconds, 3)},
            )
        if self._on_pass is not None:
            self._on_pass(report)
        return report

    def _full_pass(self, report: PassReport) -> None:
        with _collector_paused():
            self._full_pass_unpaused(report)
        self._full_passes += 1
        _settle_memory(thorough=self._full_passes % _THOROUGH_COLLECTION_EVERY == 1)

    def _full_pass_unpaused(self, report: PassReport) -> None:
        commit = report.commit
        snapshot = self.repo.snapshot(commit)
        jobs = [self._job(state, state.tree_id) for state in snapshot.projects.values()]
        self.renderer.retain(snapshot.projects)
        index = DesiredIndex(job.desired for job in jobs)
        with self._lock:
            self._live = {}  # replaced below; not kept twice at the peak of a large pass
        live = self.runtime.inventory(index)
        with self._lock:
            self._live = live
            self._pending.clear()
            self._want_full = False
        jobs += [_Job(name, None) for name in live if name not in snapshot.projects]
        self._run_jobs(jobs, report, fresh=True)
        self.runtime.finish_pass()
        with self._lock:
            self._last_commit = commit
            self._full_due = self._clock() + self.resync_seconds
            for name in [n for n in self._status if n not in snapshot.projects and n not in live]:
                self._forget(name)

    def _incremental_pass(self, report: PassReport) -> None:
        commit = report.commit
        now = self._clock()
        with self._lock:
            names = set(self._pending)
            self._pending.clear()
            names.update(name for name, retry in self._retry.items() if retry.due <= now)
            last = self._last_commit
        if commit != last:
            names |= self.repo.changed_projects(last, commit)
        jobs = []
        for name in sorted(names):
            state = self.repo.project(name, commit)
            if state is None:
                with self._lock:
                    known = name in self._live
                if known:
                    jobs.append(_Job(name, None))
                else:
                    with self._lock:
                        self._forget(name)
                continue
            jobs.append(self._job(state, state.tree_id))
        self._run_jobs(jobs, report, fresh=False)
        self.runtime.finish_pass()
        with self._lock:
            self._last_commit = commit

    def _job(self, state: ProjectState, key: str) -> _Job:
        if not state.valid:
            return _Job(state.name, state, problem=_problems(state.problems))
        try:
            return _Job(state.name, state, self.renderer.render(state, key))
        except RenderError as exc:
            return _Job(state.name, state, problem=_problems(exc.problems))

    def _run_jobs(self, jobs: list[_Job], report: PassReport, *, fresh: bool) -> None:
        """Projects are taken here, one after another, while they have nothing to write: a
        no-op project's sync costs less than handing it to a thread (on a 10,000-project
        resync, the threads' contention was a quarter of the CPU). From the first project
        that wrote or waits for a rollout on, ``workers`` threads take the rest off one
        queue (a future per project would cost more than a no-op sync)."""
        report.projects = len(jobs)
        queue = iter(jobs)
        for job in queue:
            if self._reconcile(job, report, fresh):
                break
        taking = threading.Lock()

        def work() -> None:
            while True:
                with taking:
                    job = next(queue, None)
                if job is None:
                    return
                self._reconcile(job, report, fresh)

        threads = min(self.workers, len(jobs))
        if threads <= 1:
            work()
            return
        with ThreadPoolExecutor(threads, thread_name_prefix="rise-project") as pool:
            for future in [pool.submit(work) for _ in range(threads)]:
                future.result()

    # -- one project -------------------------------------------------------------------------

    def _reconcile(self, job: _Job, report: PassReport, fresh: bool) -> bool:
        """Reconcile one project; True when that took work on the runtime's side (it wrote,
        failed, or a rollout is still under way)."""
        if self._stopping.is_set():
            with self._lock:
                self._pending.add(job.name)  # not started: the next run picks it up
            return False
        started = self._clock()
        if job.problem is not None:
            # About the deployment git asks for, so the API shows it failed, not deploying.
            wanted = job.state.deployment if job.state is not None else None
            health = ProjectHealth("failed", job.problem, wanted.id if wanted else None)
            log.warning(
                "project %s cannot be reconciled: %s",
                job.name,
                job.problem,
                extra={"project": job.name},
            )
            with self._lock:
                self._set_status(job.name, health)
                self._retry.pop(job.name, None)  # fixed by a commit, which re-reads it
                report.failed[job.name] = job.problem
            self._record_metric(started, "skipped")
            return False
        with self._lock:
            live = self._live.get(job.name)
        try:
            if job.state is None:
                result = self.runtime.remove(job.name, live)
            else:
                result = self.runtime.sync(job.name, job.desired, live, fresh=fresh)
        except Exception as exc:  # isolate the unexpected: one project, not the pass
            log.exception("reconciling %s failed", job.name, extra={"project": job.name})
            error = SyncError(f"internal error: {exc!r}", transient=True)
            result = SyncResult(live, ProjectHealth("failed", error.message), error=error)
        self._record(job, result, report)
        self._record_metric(started, "failed" if job.name in report.failed else "ok")
        return bool(result.applied or result.pruned or result.error or not result.settled)

    def _record(self, job: _Job, result: SyncResult[Any], report: PassReport) -> None:
        name = job.name
        with self._lock:
            report.applied += result.applied
            report.unchanged += result.unchanged
            report.pruned += result.pruned
            report.notes += [f"{name}: {note}" for note in result.notes]
            if result.applied and result.health.deployment_id:
                self.timelines.note(name, result.health.deployment_id, "applied", self._now())
            if result.live:
                self._live[name] = result.live
            else:
                self._live.pop(name, None)
            if isinstance(result.error, NotLeader):
                self._want_full = True  # someone else writes now; start over when leading
                return
            if job.state is None and result.error is None and not result.live:
                self._forget(name)
                return
            health = result.health
            if result.error is not None:
                health = self._schedule_retry(name, result.error, health)
            elif not result.settled:
                health = self._schedule_check(name, health)
            else:
                self._retry.pop(name, None)
            self._set_status(name, health)
            if health.state == "failed":
                report.failed[name] = health.reason or "failed"
            elif health.state == "deploying":
                report.deploying[name] = health.reason or "deploying"

    def _schedule_retry(self, name: str, error: SyncError, health: ProjectHealth) -> ProjectHealth:
        failures = self._retry[name].failures + 1 if name in self._retry else 1
        delay = self.backoff.delay(failures) if error.transient else self.backoff.cap
        delay = max(delay, error.retry_after or 0.0)
        self._retry[name] = _Retry(failures, self._clock() + delay)
        reason = f"{error.message}; next try in {delay:g}s"
        return ProjectHealth("failed", reason, health.deployment_id, health.deployments)

    def _schedule_check(self, name: str, health: ProjectHealth) -> ProjectHealth:
        """A rollout under way is looked at soon; a failing one less and less often."""
        if health.state == "failed":
            failures = self._retry[name].failures + 1 if name in self._retry else 1
            delay = max(self.rollout_poll_seconds, self.backoff.delay(failures))
        else:
            failures, delay = 0, self.rollout_poll_seconds
        self._retry[name] = _Retry(failures, self._clock() + delay)
        return health

    def _set_status(self, name: str, health: ProjectHealth) -> None:
        now = self._now()
        status = ProjectStatus(health.state, health.reason, health.deployment_id, now)
        previous = self._status.get(name)
        self._status[name] = status
        if previous is None or (previous.state, previous.reason, previous.deployment_id) != (
            status.state,
            status.reason,
            status.deployment_id,
        ):
            self.feed.publish(name, status)
        known = self._deployments.setdefault(name, {})
        for deployment_id, item in health.deployments.items():
            known[deployment_id] = ProjectStatus(item.state, item.reason, deployment_id, now)
        current = set(health.deployments)
        for deployment_id, old in list(known.items()):
            if deployment_id not in current and old.state != "stopped":
                reason = f"replaced by {health.deployment_id}" if health.deployment_id else None
                known[deployment_id] = ProjectStatus("stopped", reason, deployment_id, now)
        while len(known) > _KEEP_OLD_DEPLOYMENTS:
            known.pop(min(known, key=lambda d: known[d].updated_at))

    def _forget(self, name: str) -> None:
        self._status.pop(name, None)
        self._deployments.pop(name, None)
        self._retry.pop(name, None)
        self.renderer.forget(name)
        self.timelines.forget(name)

    def _record_metric(self, started: float, outcome: str) -> None:
        if self._recorder is not None:
            self._recorder.record_reconcile(self._clock() - started, outcome)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a full pass: the records it builds (hundreds of
    thousands at 10,000 projects) would be scanned again and again while they pile up. The
    pass makes almost no cycles, and ``_settle_memory`` collects after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _settle_memory(*, thorough: bool) -> None:
    """Take what a full pass keeps (inventory, renders, status) out of the cyclic garbage
    collector's way. With 10,000 projects, scanning those objects on every collection was a
    third of a no-op resync's CPU. A frozen object is still freed when its last reference
    goes; only cycles among frozen objects wait, for the ``thorough`` collection (every
    ``_THOROUGH_COLLECTION_EVERY`` full passes) that looks at everything again."""
    if thorough:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _problems(problems: Sequence[Problem]) -> str:
    if not problems:
        return "invalid project"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def build_controller(
    config: ServerConfig,
    repo: StateRepo,
    secrets: SecretBox | None,
    recorder: ReconcileRecorder | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
    docker: DockerSettings | None = None,
) -> Reconciler:
    """The loop the server (and ``rise reconcile``) runs, as ``config`` describes it:
    runtime, resync, lease. ValueError or RenderError say what in ``config`` is wrong."""
    settings = RenderSettings.from_config(config, environ)
    runtime_config, kube = config.runtime, config.kubernetes
    lease = LeaseSettings(kube.lease_namespace, kube.lease_name, kube.lease_seconds)
    runtime, elector = build_runtime(
        runtime_config.kind,
        repo,
        kubeconfig=kube.kubeconfig,
        branch=runtime_config.rendered_branch,
        timeout=kube.request_timeout,
        page_size=kube.list_page_size,
        lease=lease if kube.leader_election else None,
        installation=kube.installation,
        docker=replace(docker or DockerSettings(), config=config.docker, environ=environ),
    )
    return Reconciler(
        repo,
        runtime,
        Renderer(settings, secrets, decrypt=runtime.needs_secrets),
        elector=elector,
        resync_seconds=runtime_config.resync_seconds,
        rollout_poll_seconds=runtime_config.rollout_poll_seconds,
        workers=runtime_config.workers,
        backoff=Backoff(cap=runtime_config.retry_max_seconds),
        recorder=recorder,
        on_pass=on_pass,
    )
