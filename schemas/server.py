"""The rise server's configuration file (``rise server --config FILE``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import FileModel
from schemas.names import Name


class StateConfig(FileModel):
    path: str | None = Field(
        default=None, description="local bare repo; default DATA_DIR/state.git"
    )
    url: str | None = Field(default=None, description="remote repo to clone and push to")
    branch: str = "main"
    username: str | None = None
    password_env: str | None = Field(
        default=None, description="environment variable holding the push password or token"
    )


class LocalAuthConfig(FileModel):
    enabled: bool = True
    admin_user: Name = "admin"
    lockout_after: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=300, ge=1)


class OidcConfig(FileModel):
    issuer: str
    client_id: str
    client_secret_env: str | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    username_claim: str = "preferred_username"


class TrustedIssuer(FileModel):
    issuer: str
    audience: str
    jwks_url: str | None = None


class AuthConfig(FileModel):
    local: LocalAuthConfig = Field(default_factory=LocalAuthConfig)
    oidc: OidcConfig | None = None
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    admins: list[Name] = Field(default_factory=list)
    access_token_ttl: int = Field(default=900, ge=30, le=86400)
    refresh_token_ttl: int = Field(default=30 * 86400, ge=60)


class RegistryConfig(FileModel):
    provider: Literal["oci-token", "ecr", "static"] = "oci-token"
    url: str = "registry.rise.dev"
    service: str = "rise-registry"
    issuer: str = "rise"
    prefix: str = ""
    token_ttl: int = Field(default=300, ge=30, le=3600)
    ecr_region: str | None = None
    ecr_role_arn: str | None = None


class KubernetesConfig(FileModel):
    kubeconfig: str | None = None
    namespace_format: str = "rise-{project}"
    ingress_class: str | None = None
    ingress_annotations: dict[str, str] = Field(default_factory=dict)
    tls_secret: str | None = None


class RuntimeConfig(FileModel):
    kind: Literal["kubernetes", "docker", "rendered"] = "rendered"
    rendered_branch: str = "rendered"
    resync_seconds: int = Field(default=300, ge=5)


class WebhookConfig(FileModel):
    secret_env: str | None = Field(default=None, description="variable holding the shared secret")
    allow_unsigned: bool = False
    max_body_bytes: int = Field(default=1 << 20, ge=1024)


class ServerConfig(FileModel):
    data_dir: str = "./rise-data"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    app_url_template: str = "https://{project}.rise.dev"
    templates_dir: str | None = None
    state: StateConfig = Field(default_factory=StateConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
