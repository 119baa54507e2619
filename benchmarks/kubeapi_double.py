"""Loopback Kubernetes API double: request throughput through the official client.

Runs the double out of process (as the reconciler benchmarks do, so its memory is not the
controller's) and measures, with one client thread and with 8: server-side applies that create,
no-op applies, GETs, and a paginated LIST of everything. These bound how fast any reconciler
benchmark against the double can go.

    python benchmarks/kubeapi_double.py [--objects 500]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client, config

from benchmarks._report import figure, timed

ROOT = Path(__file__).resolve().parents[1]


def _deployment(i: int) -> dict:
    labels = {"rise.dev/project": "bench", "rise.dev/deployment-id": f"d{i}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"app-{i}",
            "namespace": "bench",
            "labels": {"app.kubernetes.io/managed-by": "rise", **labels},
            "annotations": {"rise.dev/spec-hash": f"h{i}"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example/app:{i}",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "PORT", "value": "8080"}],
                        }
                    ]
                },
            },
        },
    }


def _apply(api: client.ApiClient, i: int) -> None:
    # Raw responses (read, not decoded into models): the figure is the server's, not pydantic's.
    client.AppsV1Api(api).patch_namespaced_deployment(
        f"app-{i}",
        "bench",
        _deployment(i),
        field_manager="rise",
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    ).read()


def _get(api: client.ApiClient, i: int) -> None:
    client.AppsV1Api(api).read_namespaced_deployment(
        f"app-{i}", "bench", _preload_content=False
    ).read()


def _run(label: str, n: int, fn, apis: list[client.ApiClient], threads: int) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(threads) as pool, timed() as t:
        list(pool.map(lambda i: fn(apis[i % len(apis)], i), range(n)))
    figure(f"{label} ({threads} thread{'s' if threads > 1 else ''})", n / t[0], "req/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=500)
    args = parser.parse_args()
    n = args.objects

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.support.kubeapi", "--kubeconfig", str(kubeconfig)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            print(f"loopback API double at {server.stdout.readline().strip()}, {n} Deployments")
            apis = [config.new_client_from_config(config_file=str(kubeconfig)) for _ in range(8)]
            client.CoreV1Api(apis[0]).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name="bench"))
            )
            _run("apply, create", n, _apply, apis, 1)
            _run("apply, no-op", n, _apply, apis, 1)
            _run("apply, no-op", n, _apply, apis, 8)
            _run("get (ticks the rollout simulator)", n, _get, apis, 1)
            _run("get", n, _get, apis, 8)
            with timed() as t:
                token, pages = None, 0
                while True:
                    page = client.AppsV1Api(apis[0]).list_deployment_for_all_namespaces(
                        label_selector="app.kubernetes.io/managed-by=rise",
                        limit=100,
                        _continue=token,
                    )
                    pages += 1
                    token = page.metadata._continue
                    if not token:
                        break
            figure(f"list all, {pages} pages of 100 (typed models)", t[0] * 1000, "ms")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
