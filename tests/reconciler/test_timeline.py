"""A deployment's timeline as the loop's status feed and its applies make it: each step once
in order, a failure that recovers shows both, a retry's changing reason does not add steps,
and memory stays bounded per project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.status import ProjectStatus, StatusFeed
from reconciler.timeline import Timelines

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_steps_come_from_the_feed_in_order_and_once() -> None:
    feed = StatusFeed()
    timelines = Timelines(feed)
    timelines.note("shop", "d1", "applied", _at(1))
    feed.publish("shop", ProjectStatus("deploying", None, "d1", _at(2)))
    feed.publish("shop", None, desired=True)  # a deploy's notice: no step
    feed.publish("shop", ProjectStatus("failed", "CrashLoopBackOff; next try in 1s", "d1", _at(3)))
    feed.publish("shop", ProjectStatus("failed", "CrashLoopBackOff; next try in 2s", "d1", _at(5)))
    timelines.note("shop", "d1", "applied", _at(6))  # a drift repair: applied stays the first
    feed.publish("shop", ProjectStatus("running", None, "d1", _at(7)))
    feed.publish("shop", ProjectStatus("running", None, "d2", _at(8)))
    got = [(m.step, m.at, m.reason) for m in timelines.of("shop", "d1")]
    assert got == [
        ("applied", _at(1), None),
        ("rolling_out", _at(2), None),
        ("failed", _at(3), "CrashLoopBackOff; next try in 2s"),
        ("healthy", _at(7), None),
    ]
    assert [m.step for m in timelines.of("shop", "d2")] == ["healthy"]
    assert timelines.of("shop", "nope") == [] and timelines.of("other", "d1") == []
    timelines.forget("shop")
    assert timelines.of("shop", "d1") == []


def test_memory_is_bounded_per_project() -> None:
    timelines = Timelines()
    for n in range(25):
        timelines.note("shop", f"d{n}", "applied", _at(n))
    assert timelines.of("shop", "d0") == []  # the oldest deployments are dropped
    assert [m.step for m in timelines.of("shop", "d24")] == ["applied"]
    for n in range(100):
        timelines.note("shop", "d24", "failed" if n % 2 else "healthy", _at(n))
    assert len(timelines.of("shop", "d24")) == 30
