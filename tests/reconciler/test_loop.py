"""The reconcile loop end to end: git commits in, Kubernetes objects and status out.

Against ``kube_target`` (the loopback double, or a real cluster with RISE_TEST_KUBECONFIG;
tests that steer rollouts or inject faults skip there). Writes are counted twice where the
double is available: by rise's own client (true on any cluster) and by the double's log.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.desired import Renderer
from reconciler.loop import Backoff, PassReport, Reconciler
from reconciler.runtimes.board import SINGLE_READS
from reconciler.secrets import SecretBox
from reconciler.state import StateRepo
from tests.reconciler.runtimes.helpers import (
    BROKEN_IMAGE,
    IMAGE,
    KubeEnv,
    commit,
    deployment_id,
    make_env,
    project_files,
    remove_project,
    rise_writes,
    wait_for,
)
from tests.support.kubeapi import Fault
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube

OTHER_IMAGE = IMAGE.replace("0123456789abcdef" * 4, "fedcba9876543210" * 4)
_NAMESPACE = re.compile(r"/namespaces/([^/]+)")
APP_KINDS = ("Namespace", "ServiceAccount", "Deployment", "Service", "Ingress", "NetworkPolicy")


@pytest.fixture
def env(kube_target: KubeTarget, tmp_path: Path) -> Iterator[KubeEnv]:
    yield from make_env(kube_target, tmp_path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _until(reconciler: Reconciler, project: str, state: str) -> None:
    """Pass until ``project`` reaches ``state``: one pass on the double, more on a cluster."""

    def check() -> bool:
        status = reconciler.status(project)
        return status is not None and status.state == state

    def again() -> None:
        reconciler.signal("test", {project})
        reconciler.run_pass()

    wait_for(check, again)


def _running(env: KubeEnv, reconciler: Reconciler, project: str) -> None:
    _until(reconciler, project, "running")


def test_first_pass_creates_everything_and_the_next_writes_nothing(env: KubeEnv) -> None:
    commit(env.repo, {**project_files("web"), **project_files("api", deploy=2)})
    reconciler = env.reconciler()
    first = reconciler.run_pass()
    assert first.full and first.projects == 2 and not first.failed
    assert first.applied == 12 and first.unchanged == 0
    for project, n in (("web", 1), ("api", 2)):
        ns = env.namespace(project)
        for kind in APP_KINDS:
            name = {"Namespace": ns, "Deployment": env.deployment_name(project, n)}.get(kind, "app")
            assert env.get(kind, name, ns if kind != "Namespace" else None), (kind, name)
        _running(env, reconciler, project)
    env.reset_counts()

    second = reconciler.run_pass(full=True)
    assert (second.applied, second.unchanged, second.pruned) == (0, 12, 0)
    assert env.writes() == 0
    assert env.runtimes[0].request_counts == {"list": 7}  # one LIST per kind, all pages fit
    if env.target.is_loopback:
        assert env.target.loopback.writes() == []
        assert len(env.target.loopback.requests("GET")) == 7


def test_a_new_image_rolls_out_blue_green(env: KubeEnv) -> None:
    loopback = env.target.loopback
    commit(env.repo, project_files("web", deploy=1))
    reconciler = env.reconciler()
    reconciler.run_pass()
    _running(env, reconciler, "web")
    loopback.auto_tick = False  # the new pods become ready only when the test says so
    env.reset_counts()

    commit(env.repo, project_files("web", deploy=2, image=OTHER_IMAGE))
    rolling = reconciler.run_pass()
    assert not rolling.full and rolling.projects == 1
    new_name = env.deployment_name("web", 2)
    # Exactly the new Deployment; the Service still selects the old one.
    assert [str(w).split("?")[0] for w in rise_writes(env.target)] == [
        f"PATCH /apis/apps/v1/namespaces/{env.namespace('web')}/deployments/{new_name}"
    ]
    assert env.service_selects("web") == deployment_id(1)
    status = reconciler.status("web")
    assert status is not None and status.state == "deploying"
    assert status.deployment_id == deployment_id(2)
    assert status.reason is not None and status.reason.endswith(f"{deployment_id(1)} keeps serving")
    assert {d: s.state for d, s in reconciler.deployments("web").items()} == {
        deployment_id(1): "running",
        deployment_id(2): "deploying",
    }

    loopback.tick(2)
    env.reset_counts()
    reconciler.signal("test", {"web"})
    switched = reconciler.run_pass()
    assert (switched.applied, switched.pruned) == (1, 1)
    assert env.service_selects("web") == deployment_id(2)
    assert env.get("Deployment", env.deployment_name("web", 1), env.namespace("web")) is None
    assert reconciler.status("web").state == "running"  # type: ignore[union-attr]
    assert reconciler.deployments("web")[deployment_id(1)].state == "stopped"


def test_a_new_image_rolls_out_on_any_cluster(env: KubeEnv) -> None:
    commit(env.repo, project_files("web", deploy=1))
    reconciler = env.reconciler()
    reconciler.run_pass()
    _running(env, reconciler, "web")
    commit(env.repo, project_files("web", deploy=2, image=OTHER_IMAGE))
    reconciler.run_pass()
    _running(env, reconciler, "web")
    assert env.service_selects("web") == deployment_id(2)
    assert env.get("Deployment", env.deployment_name("web", 1), env.namespace("web")) is None


def test_a_failing_rollout_keeps_the_old_deployment_serving(env: KubeEnv) -> None:
    commit(env.repo, project_files("web", deploy=1))
    reconciler = env.reconciler()
    reconciler.run_pass()
    _running(env, reconciler, "web")
    ns = env.namespace("web")
    # On a .invalid registry host: every kubelet (and the double) fails to pull it.
    commit(env.repo, project_files("web", deploy=2, image=BROKEN_IMAGE))

    _until(reconciler, "web", "failed")
    status = reconciler.status("web")
    assert status is not None and status.deployment_id == deployment_id(2)
    assert status.reason is not None
    assert status.reason.split(":")[0] in ("ImagePullBackOff", "ErrImagePull")
    assert status.reason.endswith(f"{deployment_id(1)} keeps serving")
    assert env.service_selects("web") == deployment_id(1)
    assert env.get("Deployment", env.deployment_name("web", 1), ns) is not None
    assert reconciler.deployments("web")[deployment_id(1)].state == "running"
    assert reconciler.deployments("web")[deployment_id(2)].state == "failed"


def test_removing_a_project_prunes_it_and_nothing_without_the_label(env: KubeEnv) -> None:
    commit(env.repo, {**project_files("web"), **project_files("api")})
    reconciler = env.reconciler()
    reconciler.run_pass()
    bystander = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "keep-me", "namespace": env.namespace("api")},
        "data": {"owner": "someone else"},
    }
    assert env.kube.apply(bystander, manager="someone").status == 201
    env.reset_counts()

    remove_project(env.repo, "web")
    report = reconciler.run_pass()
    assert report.pruned == 6 and not report.failed
    assert reconciler.status("web") is None

    def gone() -> bool:
        return env.get("Namespace", env.namespace("web")) is None

    wait_for(gone, lambda: None)
    assert env.get("ConfigMap", "keep-me", env.namespace("api")) is not None
    assert env.get("Deployment", env.deployment_name("api", 1), env.namespace("api"))

    remove_project(env.repo, "api")  # its namespace holds the bystander: only rise's go
    report = reconciler.run_pass()
    assert report.pruned == 5 and not report.failed
    assert report.notes == [
        f"api: kept namespace {env.namespace('api')}: it holds ConfigMap keep-me, which rise "
        "does not manage"
    ]
    assert env.get("ConfigMap", "keep-me", env.namespace("api")) is not None
    assert env.get("Service", "app", env.namespace("api")) is None


def test_hand_edits_are_reverted_by_the_next_resync(env: KubeEnv) -> None:
    commit(env.repo, project_files("web", replicas=2))
    reconciler = env.reconciler()
    reconciler.run_pass()
    _running(env, reconciler, "web")
    ns, name = env.namespace("web"), env.deployment_name("web", 1)
    env.kube.request(  # `kubectl scale --replicas=5`
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
        {"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "kubectl-scale"},
    )
    assert env.kube.delete("Service", "app", ns).status == 200
    env.reset_counts()

    report = reconciler.run_pass(full=True)
    assert (report.applied, report.unchanged) == (2, 4)
    assert env.writes() == 2
    assert env.get("Deployment", name, ns)["spec"]["replicas"] == 2  # type: ignore[index]
    assert env.service_selects("web") == deployment_id(1)


def test_api_failures_mid_apply_converge_on_the_next_pass(env: KubeEnv) -> None:
    loopback = env.target.loopback
    projects = ("alpha", "bravo", "charlie", "delta")
    commit(env.repo, {k: v for p in projects for k, v in project_files(p).items()})
    loopback.inject(Fault.error(500, method="PATCH", path=f"/namespaces/{env.prefix}-bravo/"))
    loopback.inject(
        Fault.throttle(method="PATCH", path=f"{env.prefix}-charlie/services", retry_after=3)
    )
    loopback.inject(Fault.delay(1.5, method="PATCH", path=f"{env.prefix}-delta/ingresses"))
    clock = FakeClock()
    reconciler = env.reconciler(env.runtime(timeout=0.5), clock=clock)

    first = reconciler.run_pass()
    assert sorted(first.failed) == ["bravo", "charlie", "delta"]
    assert "HTTP 500" in first.failed["bravo"] and "next try in 1s" in first.failed["bravo"]
    assert "HTTP 429" in first.failed["charlie"] and "next try in 3s" in first.failed["charlie"]
    assert "no answer" in first.failed["delta"]
    assert reconciler.status("alpha").state == "running"  # type: ignore[union-attr]
    env.reset_counts()

    clock.now += 3
    second = reconciler.run_pass()
    assert not second.full and second.projects == 3 and not second.failed
    touched = {_NAMESPACE.findall(r.path)[0] for r in rise_writes(env.target)}
    assert touched <= {f"{env.prefix}-{p}" for p in ("bravo", "charlie", "delta")}
    env.reset_counts()
    third = reconciler.run_pass(full=True)
    assert third.applied == 0 and third.unchanged == 24 and env.writes() == 0


def test_failures_back_off_exponentially_up_to_the_cap(env: KubeEnv) -> None:
    loopback = env.target.loopback
    commit(env.repo, project_files("web"))
    loopback.inject(Fault.error(503, method="PATCH", times=100))
    clock = FakeClock()
    reconciler = env.reconciler(clock=clock, backoff=Backoff(base=1, cap=4))
    reasons = []
    for step in (0, 1, 2, 4, 4):
        clock.now += step
        report = reconciler.run_pass()
        reasons.append(report.failed.get("web", "").rsplit("; ", 1)[-1])
        clock.now += 0.5  # not yet due: nothing happens
        assert reconciler.run_pass().projects == 0
    assert reasons == [f"next try in {n}s" for n in (1, 2, 4, 4)] + ["next try in 4s"]
    loopback.clear_faults()
    clock.now += 4
    assert reconciler.run_pass().failed == {}
    assert reconciler.status("web").state == "running"  # type: ignore[union-attr]


def test_an_invalid_project_is_reported_and_neither_blocks_nor_loses_anything(
    env: KubeEnv,
) -> None:
    commit(env.repo, {**project_files("web"), **project_files("api")})
    reconciler = env.reconciler()
    reconciler.run_pass()
    commit(
        env.repo,
        {
            "projects/web/project.toml": 'owner = "nobody"\n',  # not user:/team:
            **project_files("api", deploy=2),
        },
    )
    for full in (False, True):
        report = reconciler.run_pass(full=full)
        assert list(report.failed) == ["web"]
        assert report.failed["web"].startswith("projects/web/project.toml")
        status = reconciler.status("web")
        assert status is not None and status.state == "failed"
        assert env.get("Deployment", env.deployment_name("web", 1), env.namespace("web"))
        assert env.get("Deployment", env.deployment_name("api", 2), env.namespace("api"))
    assert report.pruned == 0


def test_a_change_to_one_project_touches_only_that_project(env: KubeEnv) -> None:
    names = [f"app{i}" for i in range(6)]
    commit(env.repo, {k: v for n in names for k, v in project_files(n).items()})
    reconciler = env.reconciler()
    reconciler.run_pass()
    for name in names:
        _running(env, reconciler, name)
    env.reset_counts()
    commit(env.repo, project_files("app3", variables={"COLOUR": "blue"}))
    report = reconciler.run_pass()
    assert not report.full and report.projects == 1
    assert (report.applied, report.unchanged) == (1, 5)
    counts = env.runtimes[0].request_counts
    # The apply, a GET of the Deployment's status and, while its new pods are not ready
    # (a real cluster), a LIST of them: all in app3's namespace.
    assert counts.get("apply") == 1 and counts.get("get") == 1 and counts.get("list", 0) <= 1
    if env.target.is_loopback:
        paths = {r.path for r in env.target.loopback.requests()}
        assert all(f"/namespaces/{env.namespace('app3')}/" in p for p in paths), paths


def test_unfinished_rollouts_cost_a_bounded_number_of_requests(env: KubeEnv) -> None:
    names = [f"app{i}" for i in range(8)]
    files = {k: v for n in names for k, v in project_files(n, image=BROKEN_IMAGE).items()}
    commit(env.repo, files)
    clock = FakeClock()
    reconciler = env.reconciler(clock=clock)
    first = reconciler.run_pass()
    assert set(first.deploying) | set(first.failed) == set(names)  # none can pull its image
    env.reset_counts()

    clock.now += 100  # every rollout check is due (a full resync is not)
    checks = reconciler.run_pass()
    assert checks.projects == 8 and env.writes() == 0
    counts = env.runtimes[0].request_counts
    # A few read one by one, then one LIST of Deployments and one of pods for the rest
    # (16 requests one by one); more projects would not cost more.
    assert sum(counts.values()) <= SINGLE_READS + 2, counts
    env.reset_counts()

    commit(env.repo, project_files("app3", image=BROKEN_IMAGE, variables={"COLOUR": "blue"}))
    change = reconciler.run_pass()  # the others are not due: only app3
    assert change.projects == 1 and change.applied == 1
    counts = env.runtimes[0].request_counts
    assert counts.pop("list", 0) <= 1 and counts == {"apply": 1, "get": 1}  # list: its pods
    if env.target.is_loopback:
        paths = {r.path for r in env.target.loopback.requests()}
        assert all(f"/namespaces/{env.namespace('app3')}/" in p for p in paths), paths


def test_two_installations_on_one_cluster_never_prune_each_other(
    env: KubeEnv, tmp_path: Path
) -> None:
    commit(env.repo, {**project_files("web"), **project_files("api")})
    first = env.reconciler()
    assert first.run_pass().applied == 12
    other_repo = StateRepo.init(tmp_path / "other.git")
    commit(other_repo, project_files("docs"))
    other_runtime = env.runtime(installation=f"{env.prefix}-b")
    other = Reconciler(other_repo, other_runtime, Renderer(env.settings, None, decrypt=True))

    report = other.run_pass()  # a full pass: web and api are not in its repo
    assert (report.projects, report.applied, report.pruned) == (1, 6, 0)
    assert env.get("Namespace", env.namespace("web")) is not None
    again = first.run_pass(full=True)
    assert (again.projects, again.applied, again.pruned, again.unchanged) == (2, 0, 0, 12)

    remove_project(other_repo, "docs")
    gone = other.run_pass()
    assert gone.pruned == 6 and gone.notes == []
    for project in ("web", "api"):
        assert env.get("Service", "app", env.namespace(project)) is not None


def test_secret_values_need_the_key_and_reach_the_cluster_decrypted(env: KubeEnv) -> None:
    box = SecretBox(SecretBox.generate_key())
    token = box.encrypt("web", "API_TOKEN", "hunter2")
    files = project_files("web")
    files["projects/web/env.toml"] = f'[secrets]\nAPI_TOKEN = "{token}"\n'
    commit(env.repo, files)
    keyless = env.reconciler()
    report = keyless.run_pass()
    assert "has secret values, but this reconciler has no secrets key" in report.failed["web"]
    assert env.get("Namespace", env.namespace("web")) is None  # nothing applied half-way

    runtime = env.runtime()
    keyed = Reconciler(env.repo, runtime, Renderer(env.settings, box, decrypt=True))
    assert keyed.run_pass().failed == {}
    secret = env.get("Secret", "app-env", env.namespace("web"))
    assert secret is not None and secret["data"]["API_TOKEN"] == "aHVudGVyMg=="  # hunter2


def test_a_stopped_deployment_scales_to_zero(env: KubeEnv) -> None:
    commit(env.repo, project_files("web"))
    reconciler = env.reconciler()
    reconciler.run_pass()
    commit(env.repo, project_files("web", state="stopped"))

    _until(reconciler, "web", "stopped")
    deployment = env.get("Deployment", env.deployment_name("web", 1), env.namespace("web"))
    assert deployment is not None and deployment["spec"]["replicas"] == 0


def test_the_background_loop_answers_signals_and_stops_after_the_project_in_flight(
    env: KubeEnv,
) -> None:
    loopback = env.target.loopback
    commit(env.repo, {k: v for n in ("a", "b", "c") for k, v in project_files(n).items()})
    passes: list[PassReport] = []
    done = threading.Event()

    def seen(report: PassReport) -> None:
        passes.append(report)
        done.set()

    reconciler = env.reconciler(workers=1, on_pass=seen, poll_seconds=0.05)
    reconciler.start()
    try:
        assert done.wait(10), "no pass ran"
        assert passes[0].full and passes[0].applied == 18
        done.clear()
        commit(env.repo, project_files("b", variables={"X": "1"}))
        reconciler.signal("webhook", {"b"})
        assert done.wait(10)
        assert passes[-1].projects == 1 and passes[-1].applied == 1
        # A slow apply of "a" is in flight when stop() comes: it finishes, b and c never start.
        slow = loopback.inject(Fault.delay(0.6, method="PATCH", path=f"{env.prefix}-a/"))
        commit(
            env.repo,
            {
                k: v
                for n in ("a", "b", "c")
                for k, v in project_files(n, variables={"Y": "2"}).items()
            },
        )
        reconciler.signal("webhook", {"a", "b", "c"})
        deadline = time.monotonic() + 10
        while slow.hits == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        started = time.monotonic()
        reconciler.stop(timeout=10)
    assert time.monotonic() - started < 5
    last = passes[-1]
    assert last.projects == 3 and last.applied == 1 and "a" not in last.failed
    for project, value in (("a", "2"), ("b", None), ("c", None)):
        deployment = env.get("Deployment", env.deployment_name(project, 1), env.namespace(project))
        assert deployment is not None
        variables = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert ({"name": "Y", "value": "2"} in variables) == (value is not None), project


def test_a_pass_that_cannot_run_backs_off_instead_of_hammering_the_api(env: KubeEnv) -> None:
    loopback = env.target.loopback
    commit(env.repo, project_files("web"))
    loopback.inject(Fault.error(500, method="GET", times=10_000))
    reports: list[PassReport] = []
    converged = threading.Event()

    def seen(report: PassReport) -> None:
        reports.append(report)
        if report.error is None:
            converged.set()

    reconciler = env.reconciler(backoff=Backoff(base=0.2, cap=1.0), poll_seconds=0.02, on_pass=seen)
    reconciler.start()
    try:
        time.sleep(1.6)  # without backoff: a pass every 20 ms, some 80 of them
        errors = [r.error or "" for r in reports]
        assert 2 <= len(errors) <= 5, errors  # at 0, 0.2, 0.6, 1.4 s
        assert all(e.startswith("listing ") and "HTTP 500" in e for e in errors)
        loopback.clear_faults()
        assert converged.wait(5)
    finally:
        reconciler.stop(timeout=5)
    assert reports[-1].applied == 6
