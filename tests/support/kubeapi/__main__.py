"""Run the double as its own process: `python -m tests.support.kubeapi --port 0 --kubeconfig P`.

Prints the URL on stdout (one line, flushed) once it is listening, then serves until SIGINT or
SIGTERM. Benchmarks use this to keep the server's memory out of the controller's RSS.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import LoopbackKubeAPI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.kubeapi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server here")
    parser.add_argument("--rollout-ticks", type=int, default=1)
    parser.add_argument("--namespace-delete-delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    server = LoopbackKubeAPI(
        args.host,
        args.port,
        rollout_ticks=args.rollout_ticks,
        namespace_delete_delay=args.namespace_delete_delay,
    ).start()
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(server.url, flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
