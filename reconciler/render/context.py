"""One project's state turned into the plain values the templates place (docs/templates.md).

Everything a template needs is computed here, in Python, so the templates only arrange values
and never build strings out of user data.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.render.sealed import Sealed
from reconciler.render.settings import RenderError, RenderSettings, fit_name
from reconciler.secrets import SecretBox, SecretError
from reconciler.state import layout
from schemas import AppConfig, Problem
from schemas.checks import RESERVED_ENV, above, project_problems

if TYPE_CHECKING:
    from reconciler.state import ProjectState
    from schemas.app import Deploy

MANAGED_BY = "app.kubernetes.io/managed-by"
PROJECT = "rise.dev/project"
DEPLOYMENT_ID = "rise.dev/deployment-id"
GROUP = "rise.dev/group"
ENV_HASH = "rise.dev/env-hash"

NAMES = {
    "service_account": "app",
    "env_secret": "app-env",
    "pull_secret": "app-registry",
    "service": "app",
    "ingress": "app",
    "network_policy": "app",
}


def build_context(
    state: ProjectState, settings: RenderSettings, secrets: SecretBox | None, sealed: Sealed
) -> dict[str, Any]:
    """The template context of ``state``; RenderError lists every problem found."""
    name = state.name
    namespace = settings.namespace(name)
    project = state.project
    assert project is not None  # callers render valid projects only
    labels = {MANAGED_BY: "rise", PROJECT: name}
    context: dict[str, Any] = {
        "project": {
            "name": name,
            "namespace": namespace,
            "visibility": project.visibility,
            "owner": project.owner,
            "private": project.visibility == "private",
        },
        "labels": labels,
        "names": {"namespace": namespace, **NAMES, "deployment": None},
        "app_url": settings.app_url(name),
        "deployment": None,
        "env_secret": None,
        "pull_secret": None,
        "ingress": None,
        "network_policy": {"from_namespace": settings.ingress_namespace},
    }
    if state.deployment is not None:
        _Deployment(state, settings, secrets, sealed).fill(context)
    return context


class _Deployment:
    """The per-deployment part of the context, collecting every problem before failing."""

    def __init__(
        self,
        state: ProjectState,
        settings: RenderSettings,
        secrets: SecretBox | None,
        sealed: Sealed,
    ):
        self.state = state
        self.settings = settings
        self.secrets = secrets
        self.sealed = sealed
        self.problems: list[Problem] = []

    def _file(self, file: str) -> str:
        return layout.project_file(self.state.name, file)

    def fill(self, context: dict[str, Any]) -> None:
        state, settings = self.state, self.settings
        deployment = state.deployment
        assert deployment is not None and state.project is not None
        # The rules every writer and `rise state validate` apply too (schemas/checks.py).
        self.problems.extend(
            project_problems(state.name, state.project, state.app, deployment, state.env)
        )
        app = self._app()
        name = state.name
        deploy_name = fit_name(f"{name}-{deployment.id}")
        selector = {PROJECT: name, DEPLOYMENT_ID: deployment.id}
        env_secret = self._env_secret()
        pod_annotations = {ENV_HASH: _digest(env_secret)} if env_secret else {}
        pull = settings.pull_secret
        context["names"]["deployment"] = deploy_name
        context["deployment"] = {
            "id": deployment.id,
            "group": deployment.group,
            "state": deployment.state,
            "image": deployment.image,
            "name": deploy_name,
            "replicas": self._replicas(app),
            "labels": {**context["labels"], DEPLOYMENT_ID: deployment.id, GROUP: deployment.group},
            "selector": selector,
            "pod_labels": {**selector, GROUP: deployment.group},
            "pod_annotations": pod_annotations,
            "env": self._env(app, context["app_url"], env_secret),
            "port": app.deploy.port,
            "command": app.deploy.command,
            "args": app.deploy.args,
            "resources": self._resources(app.deploy),
            **_probes(app.deploy),
            "image_pull_secrets": [{"name": NAMES["pull_secret"]}] if pull else [],
        }
        if env_secret:
            context["env_secret"] = {
                "data": {k: self.sealed.add(token, plain) for k, (token, plain) in env_secret}
            }
        if pull:
            token = self.sealed.add_digest(pull.dockerconfigjson(), self.secrets is not None)
            context["pull_secret"] = {"data": {".dockerconfigjson": token}}
        context["ingress"] = self._ingress(context["app_url"])
        if self.problems:
            raise RenderError(self.problems)

    def _app(self) -> AppConfig:
        app = self.state.app or AppConfig()
        environment = self.state.deployment.environment if self.state.deployment else None
        try:
            return app.for_environment(environment)
        except KeyError:
            return app  # reported by project_problems

    def _replicas(self, app: AppConfig) -> int:
        deployment, project = self.state.deployment, self.state.project
        assert deployment is not None and project is not None
        wanted = deployment.replicas if deployment.replicas is not None else app.deploy.replicas
        return 0 if deployment.state == "stopped" else wanted

    def _env_secret(self) -> list[tuple[str, tuple[str, str | None]]]:
        """(key, (ciphertext, plaintext or None)) of each secret, sorted by key."""
        env = self.state.env
        out = []
        for key, token in sorted(env.secrets.items()) if env else []:
            plain = None
            if self.secrets is not None:
                try:
                    plain = self.secrets.decrypt(self.state.name, key, token)
                except SecretError as exc:
                    self.problems.append(Problem(self._file("env.toml"), str(exc)))
            out.append((key, (token, plain)))
        return out

    def _env(
        self, app: AppConfig, url: str, secret: list[tuple[str, tuple[str, str | None]]]
    ) -> list[dict[str, Any]]:
        plain = dict(app.env)
        sources = dict.fromkeys(app.env, ".rise.toml")
        if self.state.env:
            plain.update(self.state.env.vars)
            sources.update(dict.fromkeys(self.state.env.vars, "env.toml"))
        secret_keys = {key for key, _ in secret}
        entries: dict[str, dict[str, Any]] = {
            key: _env_value(key, value) for key, value in plain.items() if key not in secret_keys
        }
        for key in secret_keys:
            ref = {"name": NAMES["env_secret"], "key": key}
            entries[key] = {"name": key, "valueFrom": {"secretKeyRef": ref}}
        fixed = [_env_value("PORT", str(app.deploy.port)), _env_value("RISE_APP_URL", url)]
        user = [entries[k] for k in sorted(entries) if k not in RESERVED_ENV]
        return fixed + user

    def _resources(self, deploy: Deploy) -> dict[str, Any]:
        settings = self.state.project.settings if self.state.project else None
        cpu = deploy.cpu or self.settings.default_cpu
        memory = deploy.memory or self.settings.default_memory
        if settings is not None:
            # Values the app sets are checked by project_problems; the server's defaults
            # only here, where the server's settings are known.
            self._cap_default("cpu", deploy.cpu, cpu, settings.max_cpu)
            self._cap_default("memory", deploy.memory, memory, settings.max_memory)
        return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}

    def _cap_default(self, what: str, given: str | None, value: str, cap: str | None) -> None:
        if given is None and above(value, cap):
            self.problems.append(
                Problem(
                    self._file(".rise.toml"),
                    f"the server's default {what} = {value!r} is above this project's "
                    f"max_{what} = {cap!r} (project.toml [settings]); set [deploy] {what} "
                    "within the cap, or ask an admin to raise it",
                )
            )

    def _ingress(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        annotations = dict(self.settings.ingress_annotations)
        if self.state.project and self.state.project.visibility == "private":
            auth_url = self.settings.auth_url(self.state.name)
            if auth_url is None:
                self.problems.append(
                    Problem(
                        self._file("project.toml"),
                        "this project is private, but the server has no public_url (or "
                        "kubernetes.forward_auth_url) for ingress forward auth, so its Ingress "
                        "cannot be protected; set public_url in the server config",
                    )
                )
            else:
                signin = self.settings.forward_auth_signin_url
                for key, value in self.settings.forward_auth_annotations.items():
                    if "{signin_url}" in value and not signin:
                        continue  # no public_url: a browser gets the 401, not a sign-in
                    value = value.replace("{signin_url}", signin or "")
                    annotations[key] = value.replace("{auth_url}", auth_url)
        tls = parts.scheme == "https"
        return {
            "host": host,
            "path": parts.path or "/",
            "class_name": self.settings.ingress_class,
            "annotations": annotations,
            "tls_hosts": [host] if tls else [],
            "tls_secret": self.settings.tls_secret_name(self.state.name) if tls else None,
        }


def _env_value(key: str, value: str) -> dict[str, Any]:
    # The API server leaves out an empty value (omitempty); render what it will return.
    return {"name": key, "value": value} if value else {"name": key}


def _probes(deploy: Deploy) -> dict[str, Any]:
    health = deploy.health
    check: dict[str, Any]
    if health is None:
        check = {"tcpSocket": {"port": "http"}}
    else:
        check = {"httpGet": {"path": health.path, "port": "http"}}
    delay = {"initialDelaySeconds": health.initial_delay} if health and health.initial_delay else {}
    return {
        "readiness_probe": {**check, **delay, "periodSeconds": 5},
        "liveness_probe": {**check, **delay, "periodSeconds": 10, "failureThreshold": 6},
    }


def _digest(secret: list[tuple[str, tuple[str, str | None]]]) -> str:
    # Ciphertexts change whenever a value is set, so this changes (and pods restart) exactly
    # when a secret was set, added or removed, without depending on any plaintext.
    text = "\n".join(f"{key}={token}" for key, (token, _) in secret)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
