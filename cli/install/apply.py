"""``rise install --apply``: server-side apply of an install, through the reconciler's client.

The same ``KubeApi`` the reconciler uses, field manager ``rise-install``. Each object carries
the hash of its content (``rise.dev/spec-hash``, as app objects do); one that still holds
that hash and every field rise sets is skipped, so a second run writes nothing and an upgrade
writes only the objects whose content changed.

The keys Secret is the exception: it is created once, when it is missing, and never updated
or printed (its keys encrypt secret values and sign tokens: replacing them would lose data).
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.install.manifests import (
    ADMIN_PASSWORD_KEY,
    KEY_FILES,
    MANAGED_BY,
    WEBHOOK_SECRET_KEY,
    keys_secret_name,
)
from reconciler.render.engine import SPEC_HASH, spec_hash
from reconciler.runtimes.kubeapi import Kind, KubeApi, KubeError, kind
from reconciler.runtimes.rollout import contains
from schemas.install import InstallValues

MANAGER = "rise-install"
# Kinds an install has that the reconciler never applies.
_INSTALL_KINDS = {
    k.name: k
    for k in (
        Kind("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", namespaced=False),
        Kind(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            namespaced=False,
        ),
        Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
    )
}


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    keys_created: bool = False


def install_kind(name: str) -> Kind:
    return _INSTALL_KINDS.get(name) or kind(name)


def stamped(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the hash of its content as an annotation."""
    meta = obj["metadata"]
    annotations = {**(meta.get("annotations") or {}), SPEC_HASH: spec_hash(obj)}
    return {**obj, "metadata": {**meta, "annotations": annotations}}


def apply_install(
    api: KubeApi,
    values: InstallValues,
    objects: Iterable[dict[str, Any]],
    *,
    on_step: Callable[[str, str], None] | None = None,
) -> ApplyReport:
    """Apply ``objects`` in order; the keys Secret goes in right after the Namespace."""
    report = ApplyReport()
    say = on_step or (lambda verb, what: None)
    for obj in objects:
        desired = stamped(obj)
        what = _describe(desired)
        where = install_kind(desired["kind"])
        path = where.path(desired["metadata"]["name"], desired["metadata"].get("namespace"))
        live = api.get(path)
        if live is not None and _current(live, desired):
            report.unchanged.append(what)
            say("unchanged", what)
        else:
            api.apply(path, json.dumps(desired).encode(), manager=MANAGER)
            report.applied.append(what)
            say("applied", what)
        if desired["kind"] == "Namespace":
            report.keys_created = ensure_keys(api, values)
            if report.keys_created:
                say("created", f"Secret {values.namespace}/{keys_secret_name(values)} (keys)")
    return report


def missing_secrets(api: KubeApi, values: InstallValues) -> list[str]:
    """What the pods would need but the cluster lacks, each with the command that fixes it;
    checked before anything is applied."""
    name = values.state.credentials_secret
    if not name or api.get(kind("Secret").path(name, values.namespace)) is not None:
        return []
    return [
        f"[state] credentials_secret names Secret {values.namespace}/{name}, which does not "
        f"exist: kubectl create namespace {values.namespace}; kubectl -n {values.namespace} "
        f"create secret generic {name} --from-literal=password=<git password or token>"
    ]


def ensure_keys(api: KubeApi, values: InstallValues) -> bool:
    """Create the keys Secret when it is missing; True when it was created now (False also
    when another ``rise install`` created it first: its keys win, as they would later)."""
    secret = kind("Secret")
    name = keys_secret_name(values)
    if api.get(secret.path(name, values.namespace)) is not None:
        return False
    data = {key: base64.b64encode(value).decode() for key, value in generate_keys().items()}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": values.namespace,
            "labels": {
                "app.kubernetes.io/name": "rise",
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
            "annotations": {
                "rise.dev/note": "created once by rise install; back it up, never replace it"
            },
        },
        "type": "Opaque",
        "data": data,
    }
    try:
        api.create(secret.collection(values.namespace), body)
    except KubeError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def generate_keys() -> dict[str, bytes]:
    """Fresh keys, made by the code that reads them (so the formats cannot drift)."""
    from reconciler.registry.keys import SigningKeys
    from reconciler.secrets import SecretBox
    from reconciler.server.tokens import TokenService

    with tempfile.TemporaryDirectory(prefix="rise-install-") as tmp:
        data = Path(tmp)
        SecretBox.from_file(data / "secrets.key", create=True)
        TokenService.from_directory(data / "keys", issuer="rise", access_ttl=60, refresh_ttl=60)
        SigningKeys.load_or_create(data / "registry")
        jwt = next((data / "keys").glob("jwt-*.pem"))
        jwt.rename(data / KEY_FILES["jwt.pem"])
        out = {key: (data / path).read_bytes() for key, path in KEY_FILES.items()}
    out[ADMIN_PASSWORD_KEY] = secrets.token_urlsafe(18).encode()
    out[WEBHOOK_SECRET_KEY] = secrets.token_urlsafe(32).encode()
    return out


def _current(live: dict[str, Any], desired: dict[str, Any]) -> bool:
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    wanted = desired["metadata"]["annotations"][SPEC_HASH]
    return annotations.get(SPEC_HASH) == wanted and contains(live, desired)


def _describe(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"
