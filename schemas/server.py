"""The rise server's configuration file (``rise server --config FILE``)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from schemas.app import Quantity
from schemas.base import FileModel
from schemas.names import Name
from schemas.service_account import is_issuer_url


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


class OidcClaims(FileModel):
    """Which ID-token claims carry what rise needs (ID token, then the UserInfo endpoint)."""

    username: str = Field(
        default="preferred_username",
        description="the person's name at the provider; rise's user is '<provider>-<this>'",
    )
    email: str = "email"
    groups: str = Field(default="groups", description="a list of group names (group sync)")


class OidcConfig(FileModel):
    """One OpenID provider people sign in through (authorization code + PKCE S256)."""

    name: Name = Field(
        description="short name: the prefix of its users ('corp' makes 'corp-alice') and "
        "part of its callback URL (/oauth/oidc/<name>/callback)"
    )
    display_name: str | None = Field(
        default=None, description="shown as 'Sign in with <display_name>' (default: name)"
    )
    issuer: str = Field(
        description="the provider's issuer URL; discovery and keys are fetched only from it"
    )
    client_id: str
    client_secret_env: str | None = Field(
        default=None, description="environment variable holding the client secret"
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    claims: OidcClaims = Field(default_factory=OidcClaims)
    group_teams: dict[str, Name] = Field(
        default_factory=dict,
        description="provider group -> rise team: membership synced on each sign-in",
    )
    jwks_refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="an unknown kid refetches the provider's keys at most this often",
    )

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if not parts.netloc or parts.scheme not in ("https", "http" if loopback else "https"):
            raise ValueError(f"issuer {value!r} must be an https:// URL (http only on loopback)")
        if parts.query or parts.fragment:
            raise ValueError(f"issuer {value!r} may have no query or fragment")
        return value.rstrip("/")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        return value if "openid" in value else ["openid", *value]


class TrustedIssuer(FileModel):
    """An issuer whose JWTs act as service accounts (docs/auth.md): GitHub Actions, GitLab CI."""

    issuer: str = Field(
        description="the tokens' iss, e.g. https://token.actions.githubusercontent.com"
    )
    audience: str = Field(description="the aud tokens must carry for this server")
    jwks_url: str | None = Field(default=None, description="default: from OpenID discovery")
    jwks_refresh_seconds: float = Field(
        default=30.0,
        ge=0.1,
        le=3600,
        description="least time between two key-set fetches caused by an unknown kid",
    )

    @model_validator(mode="after")
    def _secure_urls(self) -> TrustedIssuer:
        for field, url in (("issuer", self.issuer), ("jwks_url", self.jwks_url)):
            if url is not None and not is_issuer_url(url):
                raise ValueError(f"{field} {url!r} must be an https:// URL")
        return self


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
    oidc: list[OidcConfig] = Field(
        default_factory=list, description="OpenID providers people may sign in through"
    )
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    admins: list[Name] = Field(default_factory=list)
    access_token_ttl: int = Field(default=900, ge=30, le=86400)
    refresh_token_ttl: int = Field(default=30 * 86400, ge=60)

    @field_validator("oidc", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("oidc")
    @classmethod
    def _unique_names(cls, value: list[OidcConfig]) -> list[OidcConfig]:
        names = [provider.name for provider in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"two [[auth.oidc]] providers are named {twice[0]!r}; rename one")
        return value


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
