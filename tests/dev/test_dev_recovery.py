"""What ``rise dev`` survives: a resync that finds nothing to do writes nothing to the engine,
containers stopped or removed by hand come back, and a ``kill -9`` in the middle of a deploy
followed by a restart converges with nothing duplicated or orphaned.

Engine writes are counted from podman's own event log (create, start, stop, remove, pull...),
not from anything rise reports about itself.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dev import Builder, DevProcess, start_dev
from tests.support.waiting import eventually


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    running = start_dev(tmp_path / "data")
    yield running
    if running.process.poll() is None:
        running.interrupt()


@pytest.fixture
def builder(tmp_path: Path, dev: DevProcess) -> Iterator[Builder]:
    built = Builder(tmp_path / "build", dev)
    yield built
    built.remove()


def _full_passes(dev: DevProcess, since: float) -> int:
    count = 0
    for line in dev.log().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        message = str(record.get("message", ""))
        if "(full)" in message and message.startswith("reconcile pass"):
            stamp = record["time"]
            seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
            if seconds >= since:
                count += 1
    return count


def _engine_events(dev: DevProcess, since: float) -> list[str]:
    events = dev.engine().events(since=int(since), until=int(time.time()) + 1, decode=True)
    return [
        f"{e.get('Type')} {e.get('Action')} {e.get('Actor', {}).get('Attributes', {}).get('name')}"
        for e in events
        if e.get("Type") in ("container", "image")
    ]


def _deploy_hello(
    dev: DevProcess, builder: Builder, page: str | None = None, initial_delay: int = 0
) -> str:
    api = dev.admin()
    if api.get("/api/v1/projects/hello").status_code == 404:
        api.ok("POST", "/api/v1/projects", {"name": "hello", "owner": "user:admin"}, 201)
    image = builder.push(builder.hello(page), api.token or "")
    health = {"path": "/", "initial_delay": initial_delay}
    app = {"project": "hello", "deploy": {"port": 8080, "health": health}}
    body = {"image": image, "app_config": app}
    return str(api.ok("POST", "/api/v1/projects/hello/deployments", body, 201)["id"])


def test_a_no_op_resync_writes_nothing_and_drift_is_repaired(
    dev: DevProcess, builder: Builder
) -> None:
    _deploy_hello(dev, builder)
    eventually(lambda: dev.app("hello").status_code == 200, 60)
    eventually(lambda: len(dev.containers("hello")) == 1, 30)

    time.sleep(1.1)  # event timestamps have whole seconds
    quiet_since = time.time()
    eventually(lambda: _full_passes(dev, quiet_since) >= 2, 30, 0.2)
    assert _engine_events(dev, quiet_since) == []

    # stopped by hand: started again, same container
    [container] = dev.containers("hello")
    dev.engine().stop(container["Id"], timeout=1)
    eventually(lambda: dev.app("hello").status_code == 200, 30)
    [again] = dev.containers("hello")
    assert again["Id"] == container["Id"] and again["State"] == "running"

    # removed by hand: a new one takes over
    dev.engine().remove_container(container["Id"], force=True)
    eventually(lambda: dev.app("hello").status_code == 200, 30)
    [new] = eventually(lambda: (found := dev.containers("hello")) and found, 30)
    assert new["Id"] != container["Id"]


def test_kill_9_in_the_middle_of_a_deploy_then_restart_converges(
    dev: DevProcess, builder: Builder, tmp_path: Path
) -> None:
    _deploy_hello(dev, builder)
    eventually(lambda: dev.app("hello").status_code == 200, 60)
    old_children = json.loads((dev.data / "children.json").read_text())

    # the new container waits 4 s before its first health check: kill rise dev meanwhile
    second = _deploy_hello(dev, builder, "<h1>second</h1>", initial_delay=4)
    eventually(lambda: len(dev.containers("hello")) == 2, 30)
    assert "second" not in dev.app("hello").text  # the old one still serves
    dev.kill()
    # its podman service and registry went with it
    eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in old_children.values()))

    restarted = start_dev(dev.data, port=dev.port, registry_port=dev.registry_port)
    try:
        eventually(lambda: "second" in restarted.app("hello").text, 60)
        eventually(lambda: len(restarted.containers("hello")) == 1, 30)
        everything = restarted.engine().containers(
            all=True, filters={"label": ["app.kubernetes.io/managed-by=rise"]}
        )
        assert [c["Labels"]["rise.dev/deployment-id"] for c in everything] == [second]
        assert everything[0]["State"] == "running"
        status = restarted.admin().ok("GET", "/api/v1/projects/hello")
        assert (status["status"], status["deployment_id"]) == ("running", second)
        children = json.loads((dev.data / "children.json").read_text())
        assert set(children) == {"podman", "registry"}
    finally:
        assert restarted.interrupt() == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in children.values())  # Ctrl-C
    # Ctrl-C stopped the app container (the next start finds it and starts it again)
    assert restarted.podman("ps", "-q") == ""
    assert len(restarted.podman("ps", "-aq").split()) == 1
