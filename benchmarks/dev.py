"""``rise dev``: start-up, deploy latency with its breakdown, and the proxy's cost.

1. Start to ready: ``rise dev`` as a subprocess, from exec to its banner (server listening,
   podman service and registry up), on a fresh data dir and again on the same one.
2. Deploy of a pre-built image, from the API call to the first 200 through the proxy, split
   by the engine's own event times: commit (the API call), reconcile (commit to container
   created: signal, render, pull or image check), container start (created to started), and
   health + switch (started to the first 200 of the new page through the proxy). Runs
   alternate two pre-built images with different pages, so each is a full blue/green.
3. Proxy throughput and added latency: the same app through the proxy and directly on its
   container's port, same run, same client (httpx, ``--connections`` at a time).

    python benchmarks/dev.py [--deploys 5] [--seconds 5] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms
from tests.support.dev import Builder, DevProcess, start_dev


def bench_start(root: Path) -> tuple[DevProcess, float, float]:
    """(running rise dev, cold seconds, warm seconds); the warm one is left running."""
    started = time.perf_counter()
    dev = start_dev(root / "data", log="warning")
    cold = time.perf_counter() - started
    dev.interrupt()
    started = time.perf_counter()
    dev = start_dev(root / "data", port=dev.port, registry_port=dev.registry_port, log="warning")
    warm = time.perf_counter() - started
    print("rise dev start to ready (banner printed):")
    figure("fresh data dir", cold * 1000, "ms")
    figure("second start, same data dir", warm * 1000, "ms")
    return dev, cold, warm


def _event_times(dev: DevProcess, since: float, deployment: str) -> dict[str, float]:
    """Seconds since the epoch of the create and start of the deployment's container."""
    out: dict[str, float] = {}
    for event in dev.engine().events(since=int(since), until=int(time.time()) + 1, decode=True):
        name = str(event.get("Actor", {}).get("Attributes", {}).get("name", ""))
        if event.get("Type") == "container" and deployment in name:
            action = str(event.get("Action"))
            if action in ("create", "start") and action not in out:
                out[action] = int(event.get("timeNano", 0)) / 1e9
    return out


def bench_deploy(dev: DevProcess, builder: Builder, runs: int) -> dict[str, float]:
    api = dev.admin()
    api.ok("POST", "/api/v1/projects", {"name": "hello", "owner": "user:admin"}, 201)
    pages = ("<h1>blue</h1>", "<h1>green</h1>")
    images = [builder.push(builder.hello(p), api.token or "", with_dev_engine=True) for p in pages]
    api.ok("POST", "/api/v1/projects/hello/deployments", {"image": images[1]}, 201)
    _wait(lambda: "green" in dev.app("hello").text)
    parts: dict[str, list[float]] = {
        k: [] for k in ("total", "commit", "reconcile", "start", "health")
    }
    for run in range(runs):
        time.sleep(1.1)  # engine event times have whole seconds in their filter
        since = time.time()
        body = {"image": images[run % 2]}
        made = api.ok("POST", "/api/v1/projects/hello/deployments", body, 201)
        committed = time.time()
        _wait(lambda page=pages[run % 2]: page in dev.app("hello").text)
        served = time.time()
        events = _event_times(dev, since - 1, made["id"])
        parts["total"].append(served - since)
        parts["commit"].append(committed - since)
        parts["reconcile"].append(events["create"] - committed)
        parts["start"].append(events["start"] - events["create"])
        parts["health"].append(served - events["start"])
    print(
        f"deploy of a pre-built image, API call to its first 200 through the proxy ({runs} runs):"
    )
    for name, label in (
        ("total", "total, median"),
        ("commit", "  commit (the API call)"),
        ("reconcile", "  reconcile (commit -> container created)"),
        ("start", "  container start (created -> started)"),
        ("health", "  health check + switch (started -> its first 200)"),
    ):
        figure(label, median_ms(parts[name]), "ms")
    return {name: statistics.median(values) for name, values in parts.items()}


def _wait(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.01)


async def _load(url: str, host: str | None, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    headers = {"host": host} if host else {}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


def bench_proxy(dev: DevProcess, seconds: float, connections: int) -> tuple[float, float]:
    [container] = [c for c in dev.containers("hello") if c["State"] == "running"]
    port = container["Labels"]["rise.dev/port"]
    direct = asyncio.run(_load(f"http://127.0.0.1:{port}/", None, seconds, connections))
    proxied = asyncio.run(_load(f"{dev.url}/", f"hello.localhost:{dev.port}", seconds, connections))
    print(f"proxy vs the container directly ({connections} connections, {seconds:.0f} s each):")
    rates = []
    for label, latencies in (("direct", direct), ("through the proxy", proxied)):
        rate = len(latencies) / seconds
        rates.append(rate)
        figure(f"{label}: requests/s", rate)
        figure(f"{label}: median latency", median_ms(latencies), "ms")
        figure(f"{label}: p99 latency", p99_ms(latencies), "ms")
    added = median_ms(proxied) - median_ms(direct)
    figure("added median latency", added, "ms")
    return rates[1], added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rise-bench-dev-") as tmp:
        root = Path(tmp)
        dev, cold, warm = bench_start(root)
        builder = Builder(root / "build", dev)
        try:
            deploy = bench_deploy(dev, builder, max(1, args.deploys))
            rate, added = bench_proxy(dev, args.seconds, max(1, args.connections))
        finally:
            dev.interrupt()
            builder.remove()
    print(
        f"dev: start {cold:.1f} s fresh / {warm:.1f} s again; deploy to first 200 "
        f"{deploy['total'] * 1000:.0f} ms (health {deploy['health'] * 1000:.0f} ms); "
        f"proxy {rate:,.0f} req/s, +{added:.1f} ms median"
    )


if __name__ == "__main__":
    main()
