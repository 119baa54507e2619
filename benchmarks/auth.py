"""Login figures over loopback HTTP against a real ``rise server``.

Device flow (RFC 8628):
- ``POST /oauth/device/code``: requests/s from one client, p50/p99;
- the whole round trip as ``rise login`` and a person make it: code pair, the login page
  opened, password sign-in (one scrypt check), approve, one poll for the tokens: p50/p99.

Trusted issuers (a local issuer serving discovery and its JWKS on loopback):
- ``verify_jwt`` with a warm key cache: validations/s for RS256 and ES256 (in process);
- a cold cache: discovery + JWKS fetch + verify, p50;
- ``GET /api/v1/me`` with a CI token against a server holding ``--accounts`` service
  accounts: requests/s from one client (verify + claim matching + HTTP).

    python benchmarks/auth.py [--part device|trusted|all] [--rounds 20] [--codes 300]
        [--validations 2000] [--accounts 50]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, median_ms, p99_ms, samples
from reconciler.server.jwt_verify import IssuerKeys, verify_jwt
from tests.login.conftest import LoginPage, poll, start_device_login
from tests.server.conftest import Api, start_server
from tests.support.issuer import LocalIssuer, github_actions_claims, start_trusting_server

AUDIENCE = "rise-ci"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("device", "trusted", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--codes", type=int, default=300)
    parser.add_argument("--validations", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args()
    if args.part in ("device", "all"):
        _device_flow(args)
    if args.part in ("trusted", "all"):
        _trusted_issuer(args)


def _device_flow(args: argparse.Namespace) -> None:
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


def _verify_cold(token: str, fresh: Callable[[], IssuerKeys]) -> None:
    verify_jwt(token, fresh(), audience=AUDIENCE)


def _trusted_issuer(args: argparse.Namespace) -> None:
    rates = {}
    for alg in ("RS256", "ES256"):
        with LocalIssuer(alg) as issuer:
            keys = IssuerKeys(issuer.url)
            token = issuer.mint(github_actions_claims(issuer, AUDIENCE))
            verify_jwt(token, keys, audience=AUDIENCE)  # warm the cache
            start = time.perf_counter()
            for _ in range(args.validations):
                verify_jwt(token, keys, audience=AUDIENCE)
            rates[alg] = args.validations / (time.perf_counter() - start)
            figure(f"verify_jwt {alg}, warm JWKS cache: validations/s", rates[alg])
            # one HTTP client, as the server shares one: the figure is fetching, not TLS setup
            with httpx.Client(timeout=10) as http:
                fresh = functools.partial(IssuerKeys, issuer.url, http=http)
                cold = samples(functools.partial(_verify_cold, token, fresh), 50)
            figure(f"verify_jwt {alg}, cold (discovery+JWKS+verify) p50", median_ms(cold), "ms")
    with LocalIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        server = start_trusting_server(Path(tmp), issuer, AUDIENCE, refresh=30)
        try:
            admin = server.admin()
            for n in range(args.accounts):
                admin.ok("POST", "/api/v1/projects", {"name": f"app-{n}"}, 201)
                body = {"name": "ci", "issuer": issuer.url, "claims": {"repository": f"org/{n}"}}
                admin.ok("POST", f"/api/v1/projects/app-{n}/service-accounts", body, 201)
            ci = Api(server.url, issuer.mint(github_actions_claims(issuer, AUDIENCE, "org/0")))
            ci.ok("GET", "/api/v1/me")
            calls = samples(lambda: ci.ok("GET", "/api/v1/me"), 300)
            figure(
                f"GET /api/v1/me as a CI token ({args.accounts} accounts): p50",
                median_ms(calls),
                "ms",
            )
            figure("GET /api/v1/me as a CI token: p99", p99_ms(calls), "ms")
            figure("GET /api/v1/me as a CI token: requests/s (1 client)", len(calls) / sum(calls))
        finally:
            server.terminate()
    print(
        f"auth: trusted-issuer JWT validations/s with a warm JWKS cache: RS256 "
        f"{rates['RS256']:,.0f}, ES256 {rates['ES256']:,.0f}"
    )


if __name__ == "__main__":
    main()
