"""Device-flow (RFC 8628) figures over loopback HTTP against a real ``rise server``.

- ``POST /oauth/device/code``: requests/s from one client, p50/p99;
- the whole round trip as ``rise login`` and a person make it: code pair, the login page
  opened, password sign-in (one scrypt check), approve, one poll for the tokens: p50/p99.

    python benchmarks/auth.py [--rounds 20] [--codes 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms, samples
from tests.login.conftest import LoginPage, poll, start_device_login
from tests.server.conftest import start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--codes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            start = time.perf_counter()
            codes = samples(lambda: start_device_login(server.url), args.codes)
            wall = time.perf_counter() - start
            figure("device code: requests/s (1 client)", args.codes / wall)
            figure("device code: p50", median_ms(codes), "ms")
            figure("device code: p99", p99_ms(codes), "ms")

            def round_trip() -> None:
                grant = start_device_login(server.url)
                LoginPage(server.url).decide(grant["user_code"], "approve")
                answer = poll(server.url, grant["device_code"])
                assert answer.status_code == 200, answer.text

            trips = samples(round_trip, args.rounds)
            figure("device flow round trip: p50", median_ms(trips), "ms")
            figure("device flow round trip: p99", p99_ms(trips), "ms")
            print(
                f"auth: device-flow round trip p50 {median_ms(trips):.0f} ms "
                f"({args.rounds} rounds, password sign-in included)"
            )
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
