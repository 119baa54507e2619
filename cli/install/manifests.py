"""Values → the objects that run rise on a cluster, or the compose file for a single host.

The templates live in ``templates/install/`` (not beside the app templates, whose renderer
reads only ``templates/*.yaml.j2``). Values reach them the way they reach app templates:
through ``yaml_value``, so a value is always one scalar or flow collection, never YAML source.
The server configuration the pods read is built here and checked against ``ServerConfig``,
so an install can never ship a configuration the server would refuse.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.render.engine import TEMPLATES_DIR, template_environment
from schemas import Problem, SchemaError, ServerConfig, parse_model
from schemas.errors import load_toml
from schemas.install import InstallValues

if TYPE_CHECKING:
    import jinja2

INSTALL_TEMPLATES = TEMPLATES_DIR / "install"
# Apply order: what an object refers to comes before it.
KUBERNETES_TEMPLATES = (
    "namespace.yaml.j2",
    "serviceaccount.yaml.j2",
    "rbac.yaml.j2",
    "configmap.yaml.j2",
    "pvc.yaml.j2",
    "deployment.yaml.j2",
    "service.yaml.j2",
    "pdb.yaml.j2",
    "ingress.yaml.j2",
)
COMPOSE_TEMPLATE = "compose.yaml.j2"
MANAGED_BY = "rise-install"
LEASE_NAME = "rise-reconciler"
DATA_DIR = "/data"
STATE_PASSWORD_VARIABLE = "STATE_REPO_PASSWORD"
# What `rise install` writes once into the keys Secret; the init container copies them into
# the data dir where the server looks for them (reconciler/server/context.py).
KEY_FILES = {
    "secrets.key": "secrets.key",
    "jwt.pem": "keys/jwt-install.pem",
    "registry-ca.pem": "registry/ca.pem",
    "registry-ca-key.pem": "registry/ca-key.pem",
    "registry-signer.pem": "registry/signer.pem",
}
ADMIN_PASSWORD_KEY = "admin-password"
WEBHOOK_SECRET_KEY = "webhook-secret"


def load_values(path: Path | None) -> InstallValues:
    """The values of ``path`` (TOML), or the defaults; SchemaError names file, key and fix."""
    if path is None:
        return InstallValues()
    try:
        text = path.read_text()
    except OSError as exc:
        raise SchemaError([Problem(str(path), f"cannot read the file: {exc.strerror}")]) from None
    return load_toml(text, InstallValues, str(path))


def keys_secret_name(values: InstallValues) -> str:
    return f"{values.name}-keys"


def server_config(values: InstallValues) -> dict[str, Any]:
    """The server configuration of the pods, as TOML data (checked against ServerConfig)."""
    public_url = values.public_url or (
        f"https://{values.ingress.host}" if values.ingress.enabled else None
    )
    state: dict[str, Any] = {"branch": values.state.branch}
    if values.state.url:
        state["url"] = values.state.url
        if values.state.username:
            state["username"] = values.state.username
        if values.state.credentials_secret:
            state["password_env"] = STATE_PASSWORD_VARIABLE
    else:
        state["path"] = "/state/state.git"
    kubernetes: dict[str, Any] = {
        "namespace_format": values.apps.namespace_format,
        "leader_election": True,
        "lease_namespace": values.namespace,
        "lease_name": LEASE_NAME,
        "lease_seconds": values.lease_seconds,
    }
    if values.apps.ingress_class:
        kubernetes["ingress_class"] = values.apps.ingress_class
    if values.apps.tls_secret:
        kubernetes["tls_secret"] = values.apps.tls_secret
    config: dict[str, Any] = {
        "data_dir": DATA_DIR,
        "host": "0.0.0.0",
        "port": 8000,
        "app_url_template": values.apps.url_template,
        "state": state,
        "runtime": {"kind": "kubernetes"},
        "kubernetes": kubernetes,
        "registry": {"url": values.apps.registry_url},
    }
    if public_url:
        config["public_url"] = public_url
    if values.admins:
        config["auth"] = {"admins": list(values.admins)}
    parse_model(config, ServerConfig, "the server configuration rise install renders")
    return config


def render_kubernetes(values: InstallValues) -> list[dict[str, Any]]:
    """The objects of an install, in apply order (the keys Secret is not among them)."""
    context = _context(values)
    objects: list[dict[str, Any]] = []
    for name in KUBERNETES_TEMPLATES:
        objects += _documents(name, context)
    return objects


def render_compose(values: InstallValues) -> str:
    """The compose file for a single host: rise on the docker runtime, a registry, volumes."""
    template = _environment().get_template(COMPOSE_TEMPLATE)
    return template.render(values=values, public_url=values.public_url or "http://localhost:8000")


def _context(values: InstallValues) -> dict[str, Any]:
    import rtoml

    labels = {
        "app.kubernetes.io/name": "rise",
        "app.kubernetes.io/instance": values.name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    config_toml = rtoml.dumps(server_config(values))
    resources = values.resources
    return {
        "values": values,
        "name": values.name,
        "namespace": values.namespace,
        "labels": labels,
        "namespace_labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted"},
        "selector": {
            k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")
        },
        "cluster_role": f"{values.namespace}-{values.name}",
        "lease_name": LEASE_NAME,
        "keys_secret": keys_secret_name(values),
        "config_toml": config_toml,
        "config_hash": hashlib.sha256(config_toml.encode()).hexdigest()[:16],
        "copy_keys": _copy_keys_script(),
        "env": _env(values),
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "container_security": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _env(values: InstallValues) -> list[dict[str, Any]]:
    def secret(variable: str, secret_name: str, key: str) -> dict[str, Any]:
        ref = {"name": secret_name, "key": key}
        return {"name": variable, "valueFrom": {"secretKeyRef": ref}}

    keys = keys_secret_name(values)
    env = [
        {"name": "HOME", "value": DATA_DIR},  # git and pygit2 look for a home
        secret("RISE_ADMIN_PASSWORD", keys, ADMIN_PASSWORD_KEY),
        secret("RISE_WEBHOOK_SECRET", keys, WEBHOOK_SECRET_KEY),
    ]
    if values.state.credentials_secret:
        env.append(secret(STATE_PASSWORD_VARIABLE, values.state.credentials_secret, "password"))
    return env


def _copy_keys_script() -> str:
    """Copy the Secret's files to where the server reads them, private to the rise user."""
    dirs = sorted({f"{DATA_DIR}/{Path(p).parent}" for p in KEY_FILES.values() if "/" in p})
    lines = [f"install -d -m 0700 {' '.join(dirs)}"]
    lines += [f"install -m 0600 /keys/{key} {DATA_DIR}/{path}" for key, path in KEY_FILES.items()]
    return " && ".join(lines)


def _documents(name: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    import yaml

    text = _environment().get_template(name).render(**context)
    return [doc for doc in yaml.safe_load_all(text) if doc]


@functools.cache
def _environment() -> jinja2.Environment:
    return template_environment([INSTALL_TEMPLATES])
