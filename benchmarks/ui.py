"""Dashboard figures over loopback HTTP against a real ``rise server`` subprocess:

- time to first byte of ``GET /ui/projects`` (signed in, as a browser) with 1,000 projects:
  p50/p99, and the first, cold request;
- events delivered per second to 100 open ``/api/v1/events`` streams while deploys land
  (each deploy is a "deploying" and a "running" message on every stream);
- time to first byte of ``GET /ui/reviews`` with 200 pending reviews (each a branch of the
  state repository, opened through the API with ``"review": true``).

    python benchmarks/ui.py [--projects 1000] [--streams 100] [--deploys 40] [--reviews 200]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms
from benchmarks.api import ADMIN_PASSWORD, Server, seed

PAGE_REQUESTS = 50


def signed_in(server: Server) -> httpx.Client:
    """A client holding a dashboard session, signed in through the form as a person is."""
    client = httpx.Client(base_url=server.url, timeout=60)
    form = client.get("/ui/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF token on the sign-in page"
    fields = {"csrf": csrf.group(1), "username": "admin", "password": ADMIN_PASSWORD}
    answer = client.post("/ui/sign-in", data=fields)
    assert answer.status_code == 303, answer.text
    return client


def ttfb(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    with client.stream("GET", path) as answer:
        first = time.perf_counter() - start
        assert answer.status_code == 200
        answer.read()
    return first


def bench_page(server: Server, path: str = "/ui/projects") -> tuple[float, float, float]:
    client = signed_in(server)
    cold = ttfb(client, path)
    times = [ttfb(client, path) for _ in range(PAGE_REQUESTS)]
    return cold * 1000, median_ms(times), p99_ms(times)


def open_reviews(server: Server, count: int) -> float:
    """``count`` reviews, one per seeded project, opened through the API; seconds taken."""
    api = server.client()
    start = time.perf_counter()
    for n in range(count):
        image = f"registry.rise.dev/app-{n}@sha256:{n + 1:064x}"
        answer = api.post(
            f"/api/v1/projects/app-{n}/deployments", json={"image": image, "review": True}
        )
        assert answer.status_code == 202, answer.text
    return time.perf_counter() - start


def bench_events(server: Server, streams: int, deploys: int) -> tuple[float, int]:
    """Messages per second summed over all streams, from the first deploy until every
    stream has stopped receiving for a second."""
    counts = [0] * streams
    opened = threading.Barrier(streams + 1)
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {server.token}"}

    def read(n: int) -> None:
        url = f"{server.url}/api/v1/events"
        with httpx.stream("GET", url, headers=headers, timeout=None) as answer:
            opened.wait()
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    counts[n] += 1
                if stop.is_set():
                    return

    readers = [threading.Thread(target=read, args=(n,), daemon=True) for n in range(streams)]
    for reader in readers:
        reader.start()
    opened.wait()
    api = server.client()
    api.post("/api/v1/projects", json={"name": "bench-events"}).raise_for_status()
    start = time.perf_counter()
    for n in range(deploys):
        image = f"registry.rise.dev/bench-events@sha256:{n:064x}"
        api.post("/api/v1/projects/bench-events/deployments", json={"image": image})
    last, last_change = sum(counts), time.perf_counter()
    while time.perf_counter() - last_change < 1.0:
        time.sleep(0.05)
        if sum(counts) != last:
            last, last_change = sum(counts), time.perf_counter()
    stop.set()
    return last / (last_change - start), last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--deploys", type=int, default=40)
    parser.add_argument("--reviews", type=int, default=200)
    args = parser.parse_args()
    args.reviews = min(args.reviews, args.projects)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        seed(data / "state.git", args.projects)
        server = Server(data)
        try:
            cold, p50, p99 = bench_page(server)
            rate, delivered = bench_events(server, args.streams, args.deploys)
            opening = open_reviews(server, args.reviews)
            r_cold, r_p50, r_p99 = bench_page(server, "/ui/reviews")
            _, with_reviews, _ = bench_page(server)  # the navigation counts them: cached
        finally:
            server.stop()
    print(f"dashboard, {args.projects:,} projects:")
    figure("GET /ui/projects TTFB, first (cold)", cold, "ms")
    figure(f"GET /ui/projects TTFB p50 ({PAGE_REQUESTS} requests)", p50, "ms")
    figure("GET /ui/projects TTFB p99", p99, "ms")
    print(f"event stream, {args.streams} streams, {args.deploys} deploys:")
    figure("messages delivered", delivered)
    figure("messages delivered per second (all streams)", rate, "/s")
    print(f"reviews, {args.reviews} pending:")
    figure("opening them through the API, each", opening / max(args.reviews, 1) * 1000, "ms")
    figure("GET /ui/reviews TTFB, first (cold)", r_cold, "ms")
    figure(f"GET /ui/reviews TTFB p50 ({PAGE_REQUESTS} requests)", r_p50, "ms")
    figure("GET /ui/reviews TTFB p99", r_p99, "ms")
    figure("GET /ui/projects TTFB p50, with them pending", with_reviews, "ms")
    print(
        f"summary: /ui/projects TTFB p50 {p50:.1f} ms p99 {p99:.1f} ms at {args.projects:,} "
        f"projects; {rate:,.0f} events/s to {args.streams} streams; /ui/reviews TTFB p50 "
        f"{r_p50:.1f} ms with {args.reviews} pending reviews"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
