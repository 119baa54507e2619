"""Leader election on a coordination.k8s.io/v1 Lease, and two reconcilers sharing a cluster.

Each elector has its own injected clock, so expiry is a matter of moving it, not of sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.leader import LeaderElector
from reconciler.runtimes.kubeapi import KubeApi
from tests.reconciler.runtimes.helpers import KubeEnv, commit, make_env, project_files
from tests.support.kubeapi.fixtures import KubeTarget

pytestmark = pytest.mark.kube


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(kube_target: KubeTarget, tmp_path: Path) -> Iterator[KubeEnv]:
    yield from make_env(kube_target, tmp_path)


@pytest.fixture
def lease_name(env: KubeEnv) -> Iterator[str]:
    name = f"rise-test-{uuid.uuid4().hex[:8]}"
    yield name
    env.kube.delete("Lease", name, "default")


def _elector(env: KubeEnv, lease: str, identity: str, clock: Clock, **kw: Any) -> LeaderElector:
    api = KubeApi(env.target.api_client(), timeout=5)
    return LeaderElector(api, name=lease, identity=identity, lease_seconds=15, clock=clock, **kw)


def _lease(env: KubeEnv, name: str) -> dict[str, Any]:
    lease = env.get("Lease", name, "default")
    assert lease is not None
    return dict(lease["spec"])


def test_one_replica_takes_the_lease_and_the_other_waits(env: KubeEnv, lease_name: str) -> None:
    a = _elector(env, lease_name, "replica-a", Clock())
    b = _elector(env, lease_name, "replica-b", Clock())
    assert a.try_acquire_or_renew() and a.is_leader()
    assert not b.try_acquire_or_renew() and not b.is_leader()
    assert b.holder == "replica-a"
    spec = _lease(env, lease_name)
    assert spec["holderIdentity"] == "replica-a" and spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0 and spec["acquireTime"].endswith("Z")


def test_the_holder_renews_and_stops_leading_when_it_cannot(env: KubeEnv, lease_name: str) -> None:
    clock = Clock()
    a = _elector(env, lease_name, "replica-a", clock)
    assert a.try_acquire_or_renew()
    first = _lease(env, lease_name)
    clock.now += 5
    assert a.try_acquire_or_renew()
    renewed = _lease(env, lease_name)
    assert renewed["acquireTime"] == first["acquireTime"]
    assert renewed["leaseTransitions"] == 0
    clock.now += a.renew_seconds  # no renewal for the whole renew deadline: not leader
    assert not a.is_leader()


def test_an_expired_lease_is_taken_over(env: KubeEnv, lease_name: str) -> None:
    a_clock, b_clock = Clock(), Clock()
    a = _elector(env, lease_name, "replica-a", a_clock)
    b = _elector(env, lease_name, "replica-b", b_clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b starts timing the record it saw
    b_clock.now += 14.9
    assert not b.try_acquire_or_renew()
    b_clock.now += 0.2  # 15 s without a change, by b's own clock
    assert b.try_acquire_or_renew()
    spec = _lease(env, lease_name)
    assert spec["holderIdentity"] == "replica-b" and spec["leaseTransitions"] == 1
    a_clock.now += a.renew_seconds
    assert not a.is_leader()
    assert not a.try_acquire_or_renew() and a.holder == "replica-b"


def test_a_released_lease_is_taken_at_once(env: KubeEnv, lease_name: str) -> None:
    a = _elector(env, lease_name, "replica-a", Clock())
    b = _elector(env, lease_name, "replica-b", Clock())
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert _lease(env, lease_name)["holderIdentity"] == ""
    assert b.try_acquire_or_renew()


def test_two_replicas_racing_for_it_cannot_both_win(env: KubeEnv, lease_name: str) -> None:
    a_clock = Clock()
    a = _elector(env, lease_name, "replica-a", a_clock)
    assert a.try_acquire_or_renew()

    class Racing(KubeApi):
        """b's update reaches the API server just after a renewed (a real lost race)."""

        def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
            a_clock.now += 1
            assert a.try_acquire_or_renew()
            return super().replace(path, obj)

    b_clock = Clock()
    b = LeaderElector(
        Racing(env.target.api_client()),
        name=lease_name,
        identity="replica-b",
        lease_seconds=15,
        clock=b_clock,
    )
    assert not b.try_acquire_or_renew()
    b_clock.now += 16
    assert not b.try_acquire_or_renew()  # its PUT carries the old resourceVersion: 409
    assert _lease(env, lease_name)["holderIdentity"] == "replica-a"
    assert a.is_leader() and not b.is_leader()


def test_only_the_lease_holder_writes(env: KubeEnv, lease_name: str) -> None:
    commit(env.repo, project_files("web"))
    electors = [_elector(env, lease_name, f"replica-{n}", Clock()) for n in "ab"]
    runtimes = [env.runtime(can_write=e.is_leader) for e in electors]
    a, b = (env.reconciler(rt, elector=e) for rt, e in zip(runtimes, electors, strict=True))

    assert a.run_pass().applied == 6
    for _ in range(3):
        report = b.run_pass()
        assert report.skipped == (
            f"another replica holds the lease default/{lease_name} (replica-a)"
        )
    assert runtimes[1].request_counts == {}  # not even a read
    assert b.status("web") is None

    env.kube.delete("Service", "app", env.namespace("web"))  # drift only a leader may fix
    electors[0].release()  # replica a stops
    report = b.run_pass()
    assert report.full and report.applied == 1 and not report.failed
    assert runtimes[1].api.writes == 1
    assert env.service_selects("web") is not None
    assert a.run_pass().skipped is not None and runtimes[0].api.writes == 6


def test_a_replica_that_loses_the_lease_mid_pass_stops_writing(
    env: KubeEnv, lease_name: str
) -> None:
    commit(env.repo, {k: v for n in ("a", "b", "c") for k, v in project_files(n).items()})
    clock = Clock()
    elector = _elector(env, lease_name, "replica-a", clock)
    writes = 0

    def can_write() -> bool:
        nonlocal writes
        writes += 1
        if writes > 4:  # after four writes the lease runs out (a long GC pause, say)
            clock.now += elector.renew_seconds
        return elector.is_leader()

    runtime = env.runtime(can_write=can_write)
    reconciler = env.reconciler(runtime, elector=elector, workers=1)
    report = reconciler.run_pass()
    assert runtime.api.writes == 4
    assert report.failed == {}  # not a project's fault: nothing is reported failed
    assert reconciler.status("b") is None and reconciler.status("c") is None
