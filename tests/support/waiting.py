"""Waiting for things the tests start: a free port, a server that answers, a condition."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], Any], timeout: float = 120.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy: instant on the loopback doubles,
    patient on a real cluster (RISE_TEST_KUBECONFIG)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last: {result!r}")
        time.sleep(interval)


def wait_for_http(
    url: str,
    ready: Callable[[httpx.Response], bool],
    process: subprocess.Popen[Any],
    timeout: float,
) -> None:
    """Return once ``url`` answers as ``ready`` wants; RuntimeError when ``process`` exits or
    ``timeout`` passes first (the caller stops the process and shows its log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready(httpx.get(url, timeout=1)):
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout}s")
        time.sleep(0.05)


def signal_and_wait(
    process: subprocess.Popen[Any], signum: int, timeout: float, log: Callable[[], str]
) -> int:
    """Send ``signum`` to a process we started and wait for its exit status; if it does not
    exit in ``timeout``, kill it and fail with the end of its ``log()``."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        name = signal.Signals(signum).name
        raise AssertionError(f"the process ignored {name}:\n{log()[-3000:]}") from None
