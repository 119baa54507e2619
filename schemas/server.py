"""The rise server's configuration file (``rise server --config FILE``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.app import Quantity
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
    poll_seconds: int | None = Field(
        default=None,
        ge=5,
        description="fetch the remote repo this often and reconcile what moved (for a remote "
        "without a push webhook)",
    )
    serve_git: bool = Field(
        default=True,
        description="serve a local state repo over git smart HTTP at /git/state.git "
        "(rise tokens as the password; pushes are validated first)",
    )


class LocalAuthConfig(FileModel):
    enabled: bool = True
    admin_user: Name = "admin"
    lockout_after: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=300, ge=1)
    login_burst: int = Field(
        default=30, ge=1, description="password checks a client may start at once"
    )
    login_per_second: float = Field(
        default=5.0, gt=0, description="password checks a client gets back per second"
    )
    hashing_concurrency: int = Field(
        default=2, ge=1, le=64, description="password hashes computed at the same time"
    )


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


class DeviceFlowConfig(FileModel):
    """The OAuth device flow (RFC 8628) that ``rise login`` uses: served by rise itself."""

    enabled: bool = True
    expires_in: int = Field(default=600, ge=10, le=3600, description="seconds a code lives")
    interval: int = Field(default=5, ge=1, le=60, description="seconds between polls")
    lookup_burst: int = Field(
        default=10, ge=1, description="user codes a client may look up at once"
    )
    lookup_per_second: float = Field(
        default=0.05, gt=0, description="user-code lookups a client gets back per second"
    )


class BrowserLoginConfig(FileModel):
    """``rise login --browser``: the authorization code grant with PKCE (RFC 6749, 7636, 8252)."""

    code_ttl: int = Field(
        default=60,
        ge=1,
        le=600,
        description="seconds an authorization code may wait for its exchange",
    )


class AppsSessionConfig(FileModel):
    """The session cookie of private apps, read by forward auth (``/auth/ingress``)."""

    cookie_domain: str | None = Field(
        default=None,
        description="Domain of the cookie private apps are reached with; it must contain the "
        "apps' hosts and the host of public_url (default: the domain of app_url_template)",
    )
    ttl: int = Field(default=8 * 3600, ge=60, le=7 * 86400, description="seconds the cookie lasts")


class AuthConfig(FileModel):
    local: LocalAuthConfig = Field(default_factory=LocalAuthConfig)
    device: DeviceFlowConfig = Field(default_factory=DeviceFlowConfig)
    browser: BrowserLoginConfig = Field(default_factory=BrowserLoginConfig)
    apps: AppsSessionConfig = Field(default_factory=AppsSessionConfig)
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


FORWARD_AUTH_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-url": "{auth_url}",
    "nginx.ingress.kubernetes.io/auth-signin": "{signin_url}",
    "nginx.ingress.kubernetes.io/auth-response-headers": "X-Auth-Request-User,X-Auth-Request-Email",
}
"""ingress-nginx forward auth: ask rise, send browsers to sign in, pass who it is to the app."""


class KubernetesConfig(FileModel):
    kubeconfig: str | None = None
    namespace_format: str = "rise-{project}"
    ingress_class: str | None = None
    ingress_annotations: dict[str, str] = Field(default_factory=dict)
    tls_secret: str | None = Field(
        default=None, description="TLS secret of every Ingress; may contain {project}"
    )
    version: str | None = Field(
        default=None,
        description="Kubernetes version manifests are validated against, e.g. '1.30' "
        "(default: the newest the kubernetes-validate package knows)",
    )
    forward_auth_url: str | None = Field(
        default=None,
        description="endpoint that checks access to private projects "
        "(default: public_url + '/auth/ingress'); rise appends ?project=<name>",
    )
    forward_auth_annotations: dict[str, str] = Field(
        default_factory=lambda: dict(FORWARD_AUTH_ANNOTATIONS),
        description="Ingress annotations of private projects; {auth_url} and {signin_url} "
        "(public_url + '/oauth/signin', where a browser signs in) are replaced; an annotation "
        "naming {signin_url} is left out when the server has no public_url",
    )
    ingress_namespace: str | None = Field(
        default=None,
        description="namespace of the ingress controller; when set, NetworkPolicies admit "
        "app traffic only from it",
    )
    default_cpu: Quantity = Field(
        default="100m", description="CPU request when .rise.toml has none"
    )
    default_memory: Quantity = Field(
        default="128Mi", description="memory request and limit when .rise.toml has none"
    )
    image_pull_username: str | None = Field(
        default=None, description="user of the image pull secret rendered into every namespace"
    )
    image_pull_password_env: str | None = Field(
        default=None, description="environment variable holding the image pull password"
    )
    request_timeout: float = Field(
        default=30.0, gt=0, le=600, description="seconds the reconciler waits for one API request"
    )
    list_page_size: int = Field(
        default=500, ge=1, le=10_000, description="objects per page of the reconciler's LISTs"
    )
    leader_election: bool = Field(
        default=True, description="hold a coordination.k8s.io Lease so one replica reconciles"
    )
    lease_namespace: str = Field(default="default", description="namespace of the Lease")
    lease_name: str | None = Field(
        default=None, description="name of the Lease (default: rise-<installation>)"
    )
    installation: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$",
        description="identity of this rise installation, on every object it applies; it "
        "lists, compares and prunes only objects carrying it (default: derived from the "
        "state repository's first commit)",
    )
    lease_seconds: int = Field(
        default=15, ge=2, le=300, description="how long a Lease holder may go without renewing"
    )


class RuntimeConfig(FileModel):
    kind: Literal["kubernetes", "docker", "rendered"] = "rendered"
    rendered_branch: str = "rendered"
    resync_seconds: int = Field(default=300, ge=5)
    workers: int = Field(
        default=4, ge=1, le=64, description="projects the reconciler works on at the same time"
    )
    retry_max_seconds: int = Field(
        default=300, ge=1, description="cap of the exponential backoff of a failing project"
    )
    rollout_poll_seconds: float = Field(
        default=2.0, gt=0, le=300, description="how often a rollout under way is looked at"
    )


class DockerConfig(FileModel):
    host: str | None = Field(
        default=None,
        description="Docker API of the engine, e.g. unix:///run/podman/podman.sock "
        "(default: DOCKER_HOST, else unix:///var/run/docker.sock)",
    )
    bind: str = Field(
        default="127.0.0.1", description="address apps listen on (host networking; PORT is set)"
    )
    health_timeout: float = Field(
        default=60.0, gt=0, le=3600, description="seconds a new container has to pass its check"
    )
    drain_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="seconds an old container keeps serving requests in flight after a switch",
    )


class WebhookConfig(FileModel):
    secret_env: str | None = Field(default=None, description="variable holding the shared secret")
    allow_unsigned: bool = False
    max_body_bytes: int = Field(default=1 << 20, ge=1024)


class ForgeConfig(FileModel):
    """Where the state repo's pull requests live: rise comments its diff on each one."""

    kind: Literal["github", "gitea", "gitlab"]
    api_url: str = Field(
        description="the forge's API root, e.g. https://api.github.com, "
        "https://gitea.example.com/api/v1 or https://gitlab.example.com/api/v4"
    )
    repository: str = Field(description="owner/name of the state repo (GitLab: its path)")
    token_env: str = Field(description="environment variable holding the forge API token")
    comment_max_lines: int = Field(
        default=300, ge=20, description="longer diffs are summarised per object"
    )


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
    docker: DockerConfig = Field(default_factory=DockerConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    forge: ForgeConfig | None = None
    secrets_key_file: str | None = Field(
        default=None,
        description="file holding the AES-256 key of secret env values (base64); "
        "default DATA_DIR/secrets.key, created on first start",
    )
