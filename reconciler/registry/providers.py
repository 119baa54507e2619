"""Where push credentials come from: one provider per kind of registry.

``POST /api/v1/projects/{p}/registry-credentials`` asks the configured provider for
credentials that reach exactly one repository, the project's, for a few minutes:

- ``oci-token``: a CNCF distribution registry using rise's token endpoint (``tokens.py``);
- ``ecr``: AWS ECR, through an STS role session whose inline policy names that repository;
- ``static``: the client already holds credentials (a registry the operator manages).

A provider is anything with the ``CredentialsProvider`` methods.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.registry.tokens import TokenIssuer
from schemas.server import RegistryConfig


class ProviderError(RuntimeError):
    """The registry backend could not be reached or refused to hand out credentials."""


@dataclass(frozen=True)
class RegistryCredentials:
    """What a client needs for one push: where to, and a short-lived login (or none)."""

    registry: str
    repository: str
    username: str | None
    password: str | None
    expires_at: dt.datetime | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "username": self.username,
            "password": self.password,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def registry_host(url: str) -> str:
    """``host[:port]`` of a registry given with or without scheme: what image names start with."""
    return re.sub(r"^[a-z]+://", "", url).rstrip("/")


class CredentialsProvider(Protocol):
    name: str

    def ensure_repository(self, project: str) -> None:
        """Make the project's repository exist (called on project creation; idempotent)."""
        ...

    def credentials(self, project: str, subject: str, actions: set[str]) -> RegistryCredentials:
        """Credentials for ``subject`` to do ``actions`` (pull/push) on the project only."""
        ...


class OciTokenProvider:
    """A distribution registry that trusts rise's token endpoint."""

    name = "oci-token"

    def __init__(self, issuer: TokenIssuer, registry: str):
        self._issuer = issuer
        self._registry = registry_host(registry)

    def ensure_repository(self, project: str) -> None:
        """Nothing to do: distribution creates a repository on its first push."""

    def credentials(self, project: str, subject: str, actions: set[str]) -> RegistryCredentials:
        token = self._issuer.credential(subject, project, actions)
        return RegistryCredentials(
            registry=self._registry,
            repository=self._issuer.repository(project),
            username=subject,
            password=token.token,
            expires_at=dt.datetime.fromtimestamp(token.expires_at, dt.UTC),
        )


class StaticProvider:
    """The client logs in by itself; rise only says where the project's images go."""

    name = "static"

    def __init__(self, registry: str, prefix: str = ""):
        self._registry = registry_host(registry)
        self._prefix = prefix

    def ensure_repository(self, project: str) -> None:
        """Nothing to do: the operator manages this registry."""

    def credentials(self, project: str, subject: str, actions: set[str]) -> RegistryCredentials:
        return RegistryCredentials(self._registry, self._prefix + project, None, None, None)


# ECR permissions per rise action. GetAuthorizationToken cannot be limited to a repository
# (AWS requires Resource "*"); the token only carries the session's own, narrowed rights.
ECR_ACTIONS = {
    "pull": (
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ),
    "push": (
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ),
}

DEFAULT_LIFECYCLE_POLICY: dict[str, Any] = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "untagged images are build leftovers: drop them after a week",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep the newest 100 images (deployments pin digests of recent ones)",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": 100,
            },
            "action": {"type": "expire"},
        },
    ]
}

# boto3 clients by service name, optionally built from temporary credentials.
ClientFactory = Callable[[str, "dict[str, str] | None"], Any]


def session_policy(repository_arn: str, actions: Iterable[str]) -> dict[str, Any]:
    """The inline STS session policy: these actions on this one repository, nothing else."""
    permissions = sorted({p for a in actions for p in ECR_ACTIONS.get(a, ())})
    if not permissions:
        raise ValueError(f"no ECR permissions for actions {sorted(actions)}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Effect": "Allow", "Action": permissions, "Resource": repository_arn},
        ],
    }


class EcrProvider:
    """One ECR repository per project; credentials from a narrowed STS role session."""

    name = "ecr"

    def __init__(
        self,
        clients: ClientFactory,
        role_arn: str,
        *,
        prefix: str = "",
        lifecycle_policy: dict[str, Any] | None = None,
        session_seconds: int = 900,
    ):
        self._clients = clients
        self._ecr = clients("ecr", None)
        self._sts = clients("sts", None)
        self._role_arn = role_arn
        self._prefix = prefix
        self._lifecycle = json.dumps(lifecycle_policy or DEFAULT_LIFECYCLE_POLICY)
        self._session_seconds = max(900, session_seconds)  # the STS minimum
        self._arns: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure_repository(self, project: str) -> None:
        self.repository_arn(project)

    def repository_arn(self, project: str) -> str:
        """The ARN of the project's repository, creating it (and its lifecycle) once."""
        with self._lock:
            if project not in self._arns:
                self._arns[project] = self._find_or_create(self._prefix + project, project)
            return self._arns[project]

    def credentials(self, project: str, subject: str, actions: set[str]) -> RegistryCredentials:
        arn = self.repository_arn(project)
        policy = session_policy(arn, actions)
        try:
            session = self._sts.assume_role(
                RoleArn=self._role_arn,
                RoleSessionName=_session_name(subject),
                Policy=json.dumps(policy),
                DurationSeconds=self._session_seconds,
            )["Credentials"]
            ecr = self._clients(
                "ecr",
                {
                    "aws_access_key_id": session["AccessKeyId"],
                    "aws_secret_access_key": session["SecretAccessKey"],
                    "aws_session_token": session["SessionToken"],
                },
            )
            data = ecr.get_authorization_token()["authorizationData"][0]
        except Exception as exc:  # botocore raises many unrelated types
            raise ProviderError(f"ECR credentials for {project!r}: {exc}") from exc
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        return RegistryCredentials(
            registry=registry_host(data["proxyEndpoint"]),
            repository=self._prefix + project,
            username=username,
            password=password,
            expires_at=min(session["Expiration"], data["expiresAt"]),
        )

    def _find_or_create(self, repository: str, project: str) -> str:
        errors = self._ecr.exceptions
        try:
            try:
                found = self._ecr.describe_repositories(repositoryNames=[repository])
                return str(found["repositories"][0]["repositoryArn"])
            except errors.RepositoryNotFoundException:
                pass
            try:
                created = self._ecr.create_repository(
                    repositoryName=repository,
                    imageTagMutability="MUTABLE",
                    imageScanningConfiguration={"scanOnPush": True},
                    tags=[{"Key": "rise.dev/project", "Value": project}],
                )
            except errors.RepositoryAlreadyExistsException:  # another server replica won
                return self._find_or_create(repository, project)
            self._ecr.put_lifecycle_policy(
                repositoryName=repository, lifecyclePolicyText=self._lifecycle
            )
            return str(created["repository"]["repositoryArn"])
        except errors.ClientError as exc:
            raise ProviderError(f"ECR repository {repository!r}: {exc}") from exc


def _session_name(subject: str) -> str:
    """An STS RoleSessionName (2-64 of ``[\\w+=,.@-]``) that shows who pushed in CloudTrail."""
    return re.sub(r"[^\w+=,.@-]", "-", f"rise-{subject}")[:64]


def boto3_clients(region: str | None, endpoint_url: str | None = None) -> ClientFactory:
    """A ``ClientFactory`` over boto3 (``endpoint_url`` for moto or an AWS-compatible API)."""
    import boto3

    def make(service: str, credentials: dict[str, str] | None) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=endpoint_url, **(credentials or {})
        )

    return make


def provider_from_config(
    config: RegistryConfig, issuer: TokenIssuer, clients: ClientFactory | None = None
) -> CredentialsProvider:
    """The provider ``[registry] provider`` names, built from the server config."""
    if config.provider == "oci-token":
        return OciTokenProvider(issuer, config.url)
    if config.provider == "static":
        return StaticProvider(config.url, config.prefix)
    if not config.ecr_role_arn:
        raise ValueError(
            "[registry] provider = 'ecr' needs ecr_role_arn: the IAM role rise assumes to hand "
            "out push credentials (it needs ECR push/pull rights on the project repositories)"
        )
    return EcrProvider(
        clients or boto3_clients(config.ecr_region),
        config.ecr_role_arn,
        prefix=config.prefix,
        session_seconds=config.token_ttl,
    )
