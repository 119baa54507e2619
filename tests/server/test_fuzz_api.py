"""Schema-driven fuzzing of the whole API (issue 14): every operation of the OpenAPI document,
with data generated from it by schemathesis (valid and invalid), against a started server.

No answer may be a 500, and every answer must match what the document says: its status is
documented, its content type and body conform. ``RISE_FUZZ_EXAMPLES`` sets the examples per
operation (default 15: under a minute on a CI machine). The examples are the same on every
run, so CI is reproducible; ``RISE_FUZZ_RANDOM=1`` draws new ones, to look further.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from tests.server.conftest import RunningServer, start_server

EXAMPLES = int(os.environ.get("RISE_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    admin = server.admin()
    # Something to find: a fuzzing admin (so the real admin's password is never hit), a team
    # and a project with a deployment and a variable.
    admin.ok(
        "POST",
        "/api/v1/users",
        {"username": "fuzzer", "password": "fuzzer-pass", "admin": True},
        201,
    )
    admin.ok("POST", "/api/v1/teams", {"name": "a", "owners": ["fuzzer"]}, 201)
    admin.ok("POST", "/api/v1/projects", {"name": "a", "owner": "team:a"}, 201)
    yield server
    log = server.log()
    server.terminate()
    assert "unhandled error" not in log, log[-3000:]


@pytest.fixture(scope="module")
def token(fuzzed: RunningServer) -> str:
    return fuzzed.login("fuzzer", "fuzzer-pass").token or ""


@pytest.fixture(scope="module")
def api_schema(fuzzed: RunningServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")

# Refusals that say the request itself is malformed. The document must state every such rule,
# so a request it accepts never gets one; a refusal decided by the state (an unknown user, a
# cap in project.toml, a name already taken) is not a broken promise.
_MALFORMED = {
    "invalid_body",
    "invalid_json",
    "invalid_name",
    "invalid_query",
    "invalid_key",
    "invalid_deployment_id",
    "invalid_header",
    "unsupported_media_type",
}


@schemathesis.check
def schema_valid_requests_are_not_malformed(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    if not case.meta or not case.meta.generation.mode.is_positive:
        return None
    if (
        response.status_code in (400, 415)
        and "json" in response.headers.get("content-type", [""])[0]
    ):
        error = response.json().get("error")
        if error in _MALFORMED:
            raise AssertionError(
                f"the OpenAPI document accepts this request, but the API refused it as "
                f"{error}: {response.text[:500]}"
            )
    return None


@schemathesis.check
def no_internal_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    # 501 (a feature that is not there yet) and 503 (state repository unavailable) are
    # documented answers; a 500 or a gateway error never is.
    if response.status_code == 500 or response.status_code > 503:
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")
    return None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=not os.environ.get("RISE_FUZZ_RANDOM"),
)
def test_no_operation_answers_500_or_breaks_its_schema(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[not_a_server_error, positive_data_acceptance],
        additional_checks=[no_internal_error, schema_valid_requests_are_not_malformed],
    )
