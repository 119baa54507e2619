"""The values file of ``rise install`` (``--values FILE``, TOML): how rise runs on a cluster.

Every key has a default. The state repository is a remote git URL (``[state] url``), or else a
repository on a PersistentVolumeClaim, which one replica can use at a time: ``replicas`` must
then be 1 (or the volume ReadWriteMany). Inconsistent values are errors, never guesses.
docs/install.md describes each key; ``schemas/json/install-values.schema.json`` is generated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.app import Quantity
from schemas.base import FileModel
from schemas.names import Name


class ResourcesValues(FileModel):
    cpu_request: Quantity = "100m"
    memory_request: Quantity = "256Mi"
    cpu_limit: Quantity = "1"
    memory_limit: Quantity = "512Mi"


class IngressValues(FileModel):
    enabled: bool = Field(default=False, description="expose the API through an Ingress")
    host: str | None = Field(default=None, description="hostname of the API, e.g. rise.example.com")
    class_name: str | None = Field(default=None, description="IngressClass of the API's Ingress")
    tls_secret: str | None = Field(
        default=None, description="Secret with the certificate of host (kubernetes.io/tls)"
    )
    annotations: dict[str, str] = Field(default_factory=dict)


class StateValues(FileModel):
    url: str | None = Field(
        default=None,
        description="remote git URL of the state repository (recommended); "
        "without it the repository lives on a PersistentVolumeClaim",
    )
    branch: str = "main"
    username: str | None = Field(default=None, description="git user for the remote")
    credentials_secret: str | None = Field(
        default=None,
        description="Secret in the install namespace whose key 'password' holds the git "
        "password or token (create it before installing)",
    )
    volume_size: Quantity = Field(default="1Gi", description="size of the local repo's volume")
    storage_class: str | None = Field(default=None, description="StorageClass of that volume")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"


class AppsValues(FileModel):
    """What the reconciler gives the apps it deploys (the server configuration's keys)."""

    url_template: str = Field(
        default="https://{project}.apps.example.com", description="app URL; {project} is replaced"
    )
    namespace_format: str = "rise-{project}"
    ingress_class: str | None = None
    tls_secret: str | None = Field(
        default=None, description="TLS Secret of every app Ingress; may contain {project}"
    )
    registry_url: str = Field(
        default="registry.example.com", description="registry apps are pushed to and pulled from"
    )


class InstallValues(FileModel):
    namespace: Name = Field(default="rise-system", description="namespace rise runs in")
    name: Name = Field(default="rise", description="name of rise's objects in that namespace")
    image: str = Field(default="rise:latest", description="the rise image (see the Dockerfile)")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=9,
        description="server replicas; one reconciles (Lease), all serve the API "
        "(default: 2 with a remote state repository, 1 with a local one)",
    )
    public_url: str | None = Field(
        default=None, description="URL clients reach the API at (default: the Ingress host)"
    )
    admins: list[Name] = Field(default_factory=list, description="users who are rise admins")
    lease_seconds: int = Field(
        default=15, ge=2, le=300, description="how soon a replica takes over from a dead leader"
    )
    resources: ResourcesValues = Field(default_factory=ResourcesValues)
    ingress: IngressValues = Field(default_factory=IngressValues)
    state: StateValues = Field(default_factory=StateValues)
    apps: AppsValues = Field(default_factory=AppsValues)

    @property
    def pods(self) -> int:
        """The replicas to run: as given, else 2 (HA) when the state repository is remote."""
        if self.replicas is not None:
            return self.replicas
        return 2 if self.state.url or self.state.access_mode == "ReadWriteMany" else 1

    @model_validator(mode="after")
    def _consistent(self) -> InstallValues:
        if self.ingress.enabled and not self.ingress.host:
            raise ValueError(
                "[ingress] enabled = true needs [ingress] host, the hostname of the API"
            )
        if self.state.url is None and self.pods > 1 and self.state.access_mode != ("ReadWriteMany"):
            raise ValueError(
                f"replicas = {self.pods} cannot share a local state repository on a "
                "ReadWriteOnce volume: set [state] url (a remote git repository), "
                'replicas = 1, or [state] access_mode = "ReadWriteMany"'
            )
        if self.state.credentials_secret and not self.state.url:
            raise ValueError("[state] credentials_secret is for a remote: set [state] url too")
        return self
