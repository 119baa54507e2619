"""``/api/v1/events`` as a client sees it: status changes in order with ids, a reconnect
with Last-Event-ID gets what it missed, and one whose id the server no longer holds gets
the current status instead."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from reconciler.status import ProjectStatus, StatusFeed
from tests.server.conftest import Api, RunningServer, image
from tests.support.waiting import eventually


class _Stream:
    """An event stream read in a thread: its messages as (id, data) pairs."""

    def __init__(self, api: Api, query: str = "", last_event_id: str | None = None):
        self.messages: list[tuple[str | None, dict[str, Any]]] = []
        self.opened = threading.Event()
        self._stop = threading.Event()
        headers = {"Authorization": f"Bearer {api.token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._thread = threading.Thread(
            target=self._read, args=(f"{api.url}/api/v1/events{query}", headers), daemon=True
        )
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=None) as answer:
            self.opened.set()
            event_id: str | None = None
            for line in answer.iter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    self.messages.append((event_id, json.loads(line[6:])))
                    event_id = None
                if self._stop.is_set():
                    return

    def close(self) -> None:
        self._stop.set()


def _states(stream: _Stream, project: str) -> list[str]:
    return [data["status"] for _, data in stream.messages if data["project"] == project]


def test_a_reconnect_with_last_event_id_replays_what_it_missed(server: RunningServer) -> None:
    hana = server.user("hana")
    hana.ok("POST", "/api/v1/projects", {"name": "relay"}, 201)
    first = _Stream(hana, "?project=relay")
    deployed = hana.ok("POST", "/api/v1/projects/relay/deployments", {"image": image("relay")}, 201)
    eventually(lambda: _states(first, "relay")[-1:] == ["running"], timeout=30)
    first.close()
    ids = [int(i) for i, _ in first.messages if i is not None]
    assert ids == sorted(ids) and len(ids) >= 2, first.messages
    assert all(data["deployment_id"] == deployed["id"] for _, data in first.messages)

    again = _Stream(hana, "?project=relay", last_event_id=str(ids[0]))
    eventually(lambda: len(again.messages) >= len(ids) - 1, timeout=10)
    again.close()
    assert [int(i or 0) for i, _ in again.messages[: len(ids) - 1]] == ids[1:]

    lost = _Stream(hana, "?project=relay", last_event_id="999999999")
    eventually(lambda: lost.messages, timeout=10)
    lost.close()
    assert lost.messages[0] == (None, {**lost.messages[0][1], "status": "running"})


def test_the_feed_replays_from_its_ring_and_says_when_it_cannot() -> None:
    feed = StatusFeed(keep=3)
    heard: list[int] = []
    stop = feed.listen(lambda change: heard.append(change.seq))
    status = ProjectStatus("running", None, "20261202-170000-abcd", datetime.now(UTC))
    for _ in range(5):
        feed.publish("shop", status)
    stop()
    feed.publish("shop", None, desired=True)
    assert heard == [1, 2, 3, 4, 5]  # nothing after the listener stopped
    assert [c.seq for c in feed.since(3) or []] == [4, 5, 6]
    assert feed.since(6) == []
    assert feed.since(2) is None  # 3 has left the ring: the caller must resync
    assert feed.since(7) is None  # from another server's numbering (a restart)
    assert StatusFeed().since(0) == [] and StatusFeed().since(4) is None
