"""What the operator decides about rendered objects: names, URLs, ingress, pull credentials."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from schemas import Problem, ServerConfig
from schemas.server import FORWARD_AUTH_ANNOTATIONS

_CONFIG = "server config"
MAX_NAME = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


class RenderError(ValueError):
    """A project (or the settings) cannot be rendered; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def fit_name(name: str, limit: int = MAX_NAME) -> str:
    """``name`` cut to ``limit`` characters, keeping it unique with a hash of the whole."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class PullSecret:
    """Credentials the cluster pulls app images with (a ``kubernetes.io/dockerconfigjson``)."""

    registry: str
    username: str
    password: str = field(repr=False)

    def dockerconfigjson(self) -> str:
        auth = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        entry = {"username": self.username, "password": self.password, "auth": auth}
        return json.dumps({"auths": {self.registry: entry}}, sort_keys=True)


@dataclass(frozen=True)
class RenderSettings:
    """Operator settings of the renderer; ``from_config`` builds them from the server config.

    The only placeholder in the name and URL formats is ``{project}`` (plain replacement, so
    a format can never reach into Python objects the way ``str.format`` could).
    """

    namespace_format: str = "rise-{project}"
    app_url_template: str = "https://{project}.rise.dev"
    ingress_class: str | None = None
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    tls_secret: str | None = None
    pull_secret: PullSecret | None = None
    forward_auth_url: str | None = None
    forward_auth_signin_url: str | None = None
    """Where the ingress sends a browser without a session (rise's ``/oauth/signin``)."""
    forward_auth_annotations: Mapping[str, str] = field(
        default_factory=lambda: dict(FORWARD_AUTH_ANNOTATIONS)
    )
    ingress_namespace: str | None = None
    default_cpu: str = "100m"
    default_memory: str = "128Mi"
    templates_dir: Path | None = None
    kubernetes_version: str | None = None
    validate: bool = True

    def __post_init__(self) -> None:
        problems = [Problem(_CONFIG, message) for message in self._problems()]
        if problems:
            raise RenderError(problems)

    @classmethod
    def from_config(
        cls, cfg: ServerConfig, environ: Mapping[str, str] | None = None
    ) -> RenderSettings:
        """Settings from the server config; ``environ`` holds the pull password's variable."""
        kube = cfg.kubernetes
        auth_url = kube.forward_auth_url
        if auth_url is None and cfg.public_url:
            auth_url = cfg.public_url.rstrip("/") + "/auth/ingress"
        return cls(
            namespace_format=kube.namespace_format,
            app_url_template=cfg.app_url_template,
            ingress_class=kube.ingress_class,
            ingress_annotations=dict(kube.ingress_annotations),
            tls_secret=kube.tls_secret,
            pull_secret=_pull_secret(cfg, os.environ if environ is None else environ),
            forward_auth_url=auth_url,
            forward_auth_signin_url=cfg.public_url.rstrip("/") + "/oauth/signin"
            if cfg.public_url
            else None,
            forward_auth_annotations=dict(kube.forward_auth_annotations),
            ingress_namespace=kube.ingress_namespace,
            default_cpu=kube.default_cpu,
            default_memory=kube.default_memory,
            templates_dir=Path(cfg.templates_dir) if cfg.templates_dir else None,
            kubernetes_version=kube.version,
        )

    def namespace(self, project: str) -> str:
        """The namespace of ``project`` (at most 63 characters)."""
        return fit_name(self.namespace_format.replace("{project}", project))

    def app_url(self, project: str) -> str:
        return self.app_url_template.replace("{project}", project)

    def tls_secret_name(self, project: str) -> str | None:
        return self.tls_secret.replace("{project}", project) if self.tls_secret else None

    def auth_url(self, project: str) -> str | None:
        if not self.forward_auth_url:
            return None
        joiner = "&" if "?" in self.forward_auth_url else "?"
        return f"{self.forward_auth_url}{joiner}project={project}"

    def _problems(self) -> list[str]:
        from reconciler.validate import SchemaVersionError, resolve_version

        out = []
        if "{project}" not in self.namespace_format:
            out.append(
                f"kubernetes.namespace_format {self.namespace_format!r} must contain "
                "'{project}': every project gets its own namespace"
            )
        elif not _DNS_LABEL.match(self.namespace("x")):
            out.append(
                f"kubernetes.namespace_format {self.namespace_format!r} must give a DNS label "
                "(lower-case letters, digits and '-'), e.g. 'rise-{project}'"
            )
        out.extend(_url_problems(self.app_url_template))
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            out.append(f"templates_dir {str(self.templates_dir)!r} is not a directory")
        try:
            resolve_version(self.kubernetes_version)
        except SchemaVersionError as exc:
            out.append(f"kubernetes.version: {exc}")
        return out


def _url_problems(template: str) -> list[str]:
    if "{project}" not in template:
        return [f"app_url_template {template!r} must contain '{{project}}'"]
    url = urlsplit(template.replace("{project}", "x"))
    host = url.hostname or ""
    if url.scheme not in ("http", "https") or not _HOST.match(host) or _is_ip(host):
        return [
            f"app_url_template {template!r} must be an http(s) URL with a DNS host name, "
            "e.g. 'https://{project}.apps.example.com'"
        ]
    return []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pull_secret(cfg: ServerConfig, environ: Mapping[str, str]) -> PullSecret | None:
    kube = cfg.kubernetes
    if not kube.image_pull_username:
        return None
    variable = kube.image_pull_password_env
    password = environ.get(variable) if variable else None
    if not password:
        raise RenderError(
            [
                Problem(
                    _CONFIG,
                    "kubernetes.image_pull_username is set, so the pull password must be in "
                    f"the environment variable named by image_pull_password_env "
                    f"({variable or 'not set'}), which is "
                    f"{'empty or missing' if variable else 'not configured'}",
                )
            ]
        )
    registry = urlsplit(cfg.registry.url if "//" in cfg.registry.url else "//" + cfg.registry.url)
    return PullSecret(registry.netloc, kube.image_pull_username, password)
