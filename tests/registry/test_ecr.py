"""The ECR provider against a real (moto) ECR + STS API over HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from starlette.applications import Starlette

from reconciler.registry import (
    EcrProvider,
    OciTokenProvider,
    ProviderError,
    SigningKeys,
    StaticProvider,
    TokenIssuer,
    boto3_clients,
    provider_from_config,
)
from reconciler.registry.http import registry_routes
from reconciler.registry.providers import DEFAULT_LIFECYCLE_POLICY, ECR_ACTIONS
from reconciler.state import Snapshot
from schemas.server import RegistryConfig
from tests.support.registry import (
    ServerThread,
    free_port,
    stop_process,
    stub_authenticate,
    user_token,
)
from tests.support.tools import require_tool
from tests.support.waiting import wait_for_http

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_tool("moto_server", "pip install 'moto[server]'")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", lambda response: True, process, 30)
        yield url
    finally:
        stop_process(process)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)


class CallLog:
    """Every API call the provider's boto3 clients make, observed through botocore events."""

    def __init__(self, moto_url: str):
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.client_credentials: list[dict[str, str] | None] = []
        self._base = boto3_clients(REGION, moto_url)

    def __call__(self, service: str, credentials: dict[str, str] | None) -> Any:
        client = self._base(service, credentials)
        self.client_credentials.append(credentials)
        client.meta.events.register("provide-client-params.*.*", self._record)
        return client

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [params for _, name, params in self.calls if name == operation]


@pytest.fixture
def role_arn(moto_url: str) -> str:
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_url)
    name = f"rise-pusher-{time.monotonic_ns()}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    return str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )


def _project() -> str:
    return f"web-{time.monotonic_ns()}"


def test_repository_is_created_once_with_a_lifecycle_policy(moto_url: str, role_arn: str) -> None:
    log = CallLog(moto_url)
    provider = EcrProvider(log, role_arn, prefix="rise/")
    project = _project()
    provider.ensure_repository(project)
    provider.ensure_repository(project)
    provider.credentials(project, "alice", {"pull", "push"})
    assert [p["repositoryName"] for p in log.named("CreateRepository")] == [f"rise/{project}"]

    # Another server replica finds the repository instead of creating it again.
    replica_log = CallLog(moto_url)
    EcrProvider(replica_log, role_arn, prefix="rise/").ensure_repository(project)
    assert replica_log.named("CreateRepository") == []

    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_url)
    found = ecr.describe_repositories(repositoryNames=[f"rise/{project}"])["repositories"]
    assert len(found) == 1
    policy = ecr.get_lifecycle_policy(repositoryName=f"rise/{project}")["lifecyclePolicyText"]
    assert json.loads(policy) == DEFAULT_LIFECYCLE_POLICY
    tags = ecr.list_tags_for_resource(resourceArn=found[0]["repositoryArn"])["tags"]
    assert {"Key": "rise.dev/project", "Value": project} in tags


@pytest.mark.parametrize(
    ("actions", "rise_actions"), [({"pull", "push"}, ("pull", "push")), ({"pull"}, ("pull",))]
)
def test_session_policy_names_exactly_the_project_repository(
    moto_url: str, role_arn: str, actions: set[str], rise_actions: tuple[str, ...]
) -> None:
    log = CallLog(moto_url)
    project = _project()
    creds = EcrProvider(log, role_arn).credentials(project, "alice@example.com", actions)

    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_url)
    arn = ecr.describe_repositories(repositoryNames=[project])["repositories"][0]["repositoryArn"]
    (assume,) = log.named("AssumeRole")
    assert assume["RoleArn"] == role_arn
    assert assume["RoleSessionName"] == "rise-alice@example.com"
    assert assume["DurationSeconds"] == 900
    policy = json.loads(assume["Policy"])
    expected = sorted({p for a in rise_actions for p in ECR_ACTIONS[a]})
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Effect": "Allow", "Action": expected, "Resource": arn},
    ]
    if actions == {"pull"}:
        assert "ecr:PutImage" not in json.dumps(policy)

    # The registry login comes from the narrowed session, not from rise's own credentials.
    session_clients = [c for c in log.client_credentials if c]
    assert len(session_clients) == 1
    assert session_clients[0]["aws_access_key_id"] != "testing"
    assert log.named("GetAuthorizationToken")
    assert creds.repository == project
    assert creds.username == "AWS" and creds.password
    assert creds.registry.endswith(f".dkr.ecr.{REGION}.amazonaws.com")
    assert creds.expires_at is not None and creds.expires_at.tzinfo is not None


def test_ecr_failures_are_a_502_with_the_reason(moto_url: str, role_arn: str) -> None:
    keys = SigningKeys.generate()
    issuer = TokenIssuer(keys)
    # An ECR repository name may not contain upper case: ECR refuses, rise reports it.
    provider = EcrProvider(CallLog(moto_url), role_arn, prefix="Bad_Prefix/")
    routes = registry_routes(
        issuer,
        provider,
        stub_authenticate,
        lambda snapshot, who, project: {"pull", "push"},
        lambda: Snapshot(commit="0" * 40),
    )
    server = ServerThread(Starlette(routes=routes)).start()
    try:
        response = httpx.post(
            f"{server.url}/api/v1/projects/web/registry-credentials",
            headers={"Authorization": f"Bearer {user_token('alice')}"},
        )
    finally:
        server.stop()
    assert response.status_code == 502
    assert response.json()["error"] == "registry_unavailable"
    assert "Bad_Prefix/web" in response.json()["message"]
    with pytest.raises(ProviderError):
        provider.credentials("web", "alice", {"pull"})


def test_provider_from_config(moto_url: str) -> None:
    issuer = TokenIssuer(SigningKeys.generate())
    oci = provider_from_config(RegistryConfig(url="http://127.0.0.1:5000/"), issuer)
    assert isinstance(oci, OciTokenProvider)
    assert oci.credentials("web", "alice", {"pull"}).registry == "127.0.0.1:5000"
    static = provider_from_config(RegistryConfig(provider="static", prefix="apps/"), issuer)
    assert isinstance(static, StaticProvider)
    creds = static.credentials("web", "alice", {"push"})
    assert (creds.repository, creds.username, creds.password) == ("apps/web", None, None)
    with pytest.raises(ValueError, match="ecr_role_arn"):
        provider_from_config(RegistryConfig(provider="ecr"), issuer)
    ecr = provider_from_config(
        RegistryConfig(provider="ecr", ecr_role_arn="arn:aws:iam::123456789012:role/x"),
        issuer,
        boto3_clients(REGION, moto_url),
    )
    assert isinstance(ecr, EcrProvider)
