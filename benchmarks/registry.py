"""Registry token issuance and push latency.

1. Token endpoint throughput: rise's registry routes in uvicorn in their own process (one
   worker), loaded from this process over keep-alive HTTP/1.1 connections. Two paths:
   - Basic auth with a push credential (what docker/buildah send during every push);
   - Bearer with a rise login, through ``authenticate`` + ``project_actions`` on a snapshot.
   Goal: >= 1,000 requests/s on 2 cores.
2. Push latency: from asking for credentials to the pushed digest, with buildah, a real
   distribution registry and the token flow (the first push uploads the layers, later pushes
   find them there).

    python benchmarks/registry.py [--seconds 5] [--connections 16] [--pushes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms

SCOPE = "repository:web:pull,push"


def serve(port: int, data_dir: str) -> None:
    """The server process: registry routes with stand-in auth, as the rise server wires them."""
    import uvicorn
    from starlette.applications import Starlette

    from reconciler.registry import OciTokenProvider, SigningKeys, TokenIssuer
    from reconciler.registry.http import registry_routes
    from reconciler.server.authz import project_actions
    from reconciler.state import StateRepo
    from tests.support.registry import stub_authenticate

    keys = SigningKeys.load_or_create(Path(data_dir) / "keys")
    issuer = TokenIssuer(keys, service="rise-registry", issuer="rise")
    state = StateRepo.init(
        Path(data_dir) / "state.git",
        files={"projects/web/project.toml": b'owner = "user:alice"\n'},
    )
    snapshot = state.snapshot()  # the server keeps a current snapshot; reading git is not measured
    routes = registry_routes(
        issuer,
        OciTokenProvider(issuer, "127.0.0.1:5000"),
        stub_authenticate,
        project_actions,
        lambda: snapshot,
    )
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")


async def _client(port: int, request: bytes, deadline: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


def _load(port: int, authorization: str, seconds: float, connections: int) -> list[float]:
    request = (
        f"GET /api/v1/registry/token?service=rise-registry&scope={SCOPE} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\n\r\n"
    ).encode()
    latencies: list[float] = []

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(port, request, deadline, latencies) for _ in range(connections))
        )

    asyncio.run(run())
    return latencies


def bench_token_endpoint(seconds: float, connections: int) -> float:
    import httpx

    from tests.support.registry import free_port, user_token

    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), data])
        try:
            _wait(f"http://127.0.0.1:{port}/api/v1/registry/token-ca.pem", server)
            creds = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/projects/web/registry-credentials",
                headers={"Authorization": f"Bearer {user_token('alice')}"},
            ).json()
            basic = base64.b64encode(f"alice:{creds['password']}".encode()).decode()
            _load(port, f"Basic {basic}", 1, connections)  # warm up
            rates = []
            for label, authorization in (
                ("push credential (Basic)", f"Basic {basic}"),
                ("rise login (Bearer)", f"Bearer {user_token('alice')}"),
            ):
                cpu_before = _cpu_seconds(server.pid)
                latencies = _load(port, authorization, seconds, connections)
                cpu = _cpu_seconds(server.pid) - cpu_before
                rate = len(latencies) / seconds
                rates.append(rate)
                print(f"token endpoint, {label}, {connections} connections, {seconds:.0f} s:")
                figure("requests", len(latencies))
                figure("requests/s", rate)
                figure("median latency", median_ms(latencies), "ms")
                figure("p99 latency", p99_ms(latencies), "ms")
                # Independent of other load on the machine: what one core can serve.
                figure("requests per server CPU-second", len(latencies) / cpu)
        finally:
            server.terminate()
            server.wait(10)
        figure("server peak RSS", _children_rss_mb(), "MiB")
    return min(rates)


def bench_push(pushes: int) -> list[float]:
    from cli.images import BuildOptions, ServerCredentials, get_backend, plan_build, push_image
    from tests.support.containers import container_env, hello_context
    from tests.support.registry import start_stack, user_token

    work = Path(tempfile.mkdtemp(prefix="rise-bench-"))
    stack = start_stack(work / "registry")
    env = container_env(work / "containers", [stack.registry.host])
    try:
        context = hello_context(work / "hello")
        plan = plan_build(context, BuildOptions(backend="buildah", tag="alpha:bench"), env.environ)
        backend = get_backend("buildah", env.environ)
        image = backend.build(plan.spec, lambda line: None)
        source = ServerCredentials(stack.api_url, user_token("alice"))
        times = []
        for n in range(pushes):
            start = time.perf_counter()
            push_image(backend, image, "alpha", source, tag=f"b{n}", environ=env.environ)
            times.append(time.perf_counter() - start)
        size = sum(p.stat().st_size for p in stack.registry.data.rglob("*") if p.is_file())
        print(f"push with buildah (credentials -> pushed digest), image {size / 1024:.0f} KiB:")
        figure("first push (layers uploaded)", times[0] * 1000, "ms")
        figure(f"later pushes, median of {pushes - 1}", median_ms(times[1:]), "ms")
        return times
    finally:
        stack.registry.stop()
        stack.api.stop()
        env.remove()
        shutil.rmtree(work, ignore_errors=True)


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1).raise_for_status()
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start") from None
            time.sleep(0.05)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pushes", type=int, default=5)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    rate = bench_token_endpoint(args.seconds, max(1, args.connections))
    summary = f"registry: token endpoint {rate:,.0f} req/s (goal >= 1,000)"
    if shutil.which("buildah") and shutil.which("docker-registry"):
        times = bench_push(max(2, args.pushes))
        summary += f"; push {times[0] * 1000:.0f} ms first, {median_ms(times[1:]):.0f} ms after"
    else:
        print("push latency skipped: buildah and docker-registry are needed")
    print(summary)


if __name__ == "__main__":
    main()
