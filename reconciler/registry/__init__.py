"""Registry credentials (SPEC §6): token auth for distribution registries, ECR, static.

Wiring in the server (``registry_routes`` lives in ``reconciler.registry.http``: starlette)::

    issuer = TokenIssuer.from_config(config.registry, config.data_dir)
    provider = provider_from_config(config.registry, issuer)
    routes = registry_routes(issuer, provider, authenticate, project_actions, store.snapshot)
"""

from reconciler.registry.keys import SigningKeys
from reconciler.registry.providers import (
    CredentialsProvider,
    EcrProvider,
    OciTokenProvider,
    ProviderError,
    RegistryCredentials,
    StaticProvider,
    boto3_clients,
    provider_from_config,
    registry_host,
    session_policy,
)
from reconciler.registry.tokens import Access, IssuedToken, ScopeError, TokenIssuer, parse_scopes

__all__ = [
    "Access",
    "CredentialsProvider",
    "EcrProvider",
    "IssuedToken",
    "OciTokenProvider",
    "ProviderError",
    "RegistryCredentials",
    "ScopeError",
    "SigningKeys",
    "StaticProvider",
    "TokenIssuer",
    "boto3_clients",
    "parse_scopes",
    "provider_from_config",
    "registry_host",
    "session_policy",
]
