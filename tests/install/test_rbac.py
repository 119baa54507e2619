"""The exported RBAC is enough for the reconciler, and not more.

The reconciler runs its whole flow (create, blue/green update, failing rollout, prune of
stray objects and of a removed project, the Lease) with a client that impersonates rise's
service account: the double (or a real cluster) authorizes every request against the
ClusterRole and Role that ``rise install`` applied. On the double, the request log then shows
that every permission granted was used by that flow: nothing is granted just in case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.install.apply import apply_install, install_kind
from cli.install.manifests import LEASE_NAME
from reconciler.desired import Renderer
from reconciler.leader import LeaderElector
from reconciler.loop import Reconciler
from reconciler.render.context import DEPLOYMENT_ID
from reconciler.render.settings import PullSecret
from reconciler.runtimes.kubeapi import KubeApi, KubeError, kind
from reconciler.runtimes.kubernetes import KubernetesRuntime
from reconciler.secrets import SecretBox
from tests.install.conftest import Installation
from tests.reconciler.runtimes import helpers
from tests.reconciler.runtimes.helpers import KubeEnv, wait_for
from tests.support.kubeapi import rbac

pytestmark = pytest.mark.kube


@pytest.fixture
def env(installation: Installation, tmp_path: Path) -> Iterator[KubeEnv]:
    for found in helpers.make_env(installation.target, tmp_path):
        # with image pull credentials, every project gets a Secret too
        pull = PullSecret("registry.example.com", "puller", "pull-password")
        found.settings = dataclasses.replace(found.settings, pull_secret=pull)
        yield found


def service_account(installation: Installation) -> str:
    return f"system:serviceaccount:{installation.values.namespace}:{installation.values.name}"


def restricted_api(installation: Installation) -> KubeApi:
    """A client that acts as rise's service account (``kubectl --as``)."""
    client = installation.target.api_client()
    client.set_default_header("Impersonate-User", service_account(installation))
    return KubeApi(client, timeout=10)


def granted(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for obj in objects
        if obj["kind"] in ("ClusterRole", "Role")
        for rule in obj["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(installation: Installation) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every request the service account made, from the log."""
    out = set()
    for record in installation.target.requests():
        if record.user != service_account(installation):
            continue
        attrs = rbac.attributes(record.method, record.path, record.query, record.content_type)
        if attrs is None:
            continue
        out.add((attrs.group, attrs.resource, attrs.verb))
        if record.method == "PATCH" and record.status == 201:  # an apply that created
            out.add((attrs.group, attrs.resource, "create"))
    return out


def plant_strays(env: KubeEnv, project: str) -> list[tuple[str, str]]:
    """Objects rise owns in ``project``'s namespace that git no longer wants: pruned one by
    one (every kind rise applies in a namespace). Labelled as rise labels that project."""
    namespace = env.namespace(project)
    live = env.get("Deployment", next(iter(_deployments(env, namespace))), namespace)
    assert live is not None
    labels = {k: v for k, v in live["metadata"]["labels"].items() if k != DEPLOYMENT_ID}
    meta = {"name": "stray", "namespace": namespace, "labels": labels}
    port = {"port": 80, "targetPort": 8080, "protocol": "TCP"}
    strays: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque"},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [port]}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {"podSelector": {}},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": {"defaultBackend": {"service": {"name": "stray", "port": {"number": 80}}}},
        },
    ]
    for obj in strays:
        env.kube.apply(obj, manager="test")
    return [(obj["kind"], namespace) for obj in strays]


def _deployments(env: KubeEnv, namespace: str) -> list[str]:
    items = env.kube.list("Deployment", namespace).body["items"]
    return [item["metadata"]["name"] for item in items]


def test_the_reconciler_needs_exactly_the_exported_permissions(
    installation: Installation, env: KubeEnv
) -> None:
    objects = installation.objects()
    apply_install(installation.api, installation.values, objects)
    rules = [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    assert all("*" not in r[key] for r in rules for key in ("verbs", "resources", "apiGroups"))
    api = restricted_api(installation)
    elector = LeaderElector(
        restricted_api(installation),
        namespace=installation.values.namespace,
        name=LEASE_NAME,
        lease_seconds=15,
    )
    runtime = KubernetesRuntime(api, installation=env.prefix, can_write=elector.is_leader)
    secrets = SecretBox(SecretBox.generate_key())  # the pull Secret is rendered decrypted
    renderer = Renderer(env.settings, secrets, decrypt=True)
    reconciler = Reconciler(env.repo, runtime, renderer, elector=elector, workers=2)
    if installation.target.is_loopback:
        installation.target.unpullable_image(helpers.BROKEN_IMAGE)
        installation.target.clear_log()

    def passes() -> None:
        assert elector.try_acquire_or_renew(), elector.why_not()
        reconciler.signal("test")
        reconciler.run_pass()

    def state(project: str) -> bool:
        status = reconciler.status(project)
        if status is not None and "forbidden" in (status.reason or ""):
            raise AssertionError(f"{project}: {status}")
        return status is not None and status.state == "running"

    # create: a project with a Secret, a plain one, and one whose pods cannot start
    helpers.commit(
        env.repo,
        {
            **helpers.project_files("web", variables={"GREETING": "hello"}),
            **helpers.project_files("api"),
            **helpers.project_files("broken", image=helpers.BROKEN_IMAGE),
        },
    )
    wait_for(lambda: state("web") and state("api"), passes)
    wait_for(lambda: (s := reconciler.status("broken")) and s.state == "failed", passes)
    # update: blue/green to a new deployment, the old Deployment pruned
    helpers.commit(env.repo, helpers.project_files("web", deploy=2, variables={"GREETING": "hi"}))

    def updated() -> bool:
        status = reconciler.status("web")
        serving = status is not None and status.deployment_id == helpers.deployment_id(2)
        return serving and state("web") and len(_deployments(env, env.namespace("web"))) == 1

    wait_for(updated, passes)
    # prune: stray objects one by one, and a removed project with its namespace
    strays = plant_strays(env, "api")
    helpers.remove_project(env.repo, "broken")
    reconciler.signal("test", None)

    notes: list[str] = []

    def namespace_pruned() -> bool:
        """Deleted, or kept because something rise does not own is in it (some clusters put
        a ConfigMap of their own in every namespace): either way rise looked (list verbs)."""
        namespace = env.get("Namespace", env.namespace("broken"))
        kept = any(
            n.startswith(f"broken: kept namespace {env.namespace('broken')}:") for n in notes
        )
        return namespace is None or bool(namespace["metadata"].get("deletionTimestamp")) or kept

    def pruned() -> bool:
        gone = all(
            env.get(kind_name, "stray", namespace) is None for kind_name, namespace in strays
        )
        return gone and namespace_pruned()

    def full_pass() -> None:
        passes()
        notes.extend(reconciler.run_pass(full=True).notes)

    full_pass()
    wait_for(pruned, full_pass)
    if installation.target.is_loopback:
        assert env.get("Namespace", env.namespace("broken")) is None
    assert state("web") and state("api")

    # the rules are enforced: what the role does not grant is refused
    with pytest.raises(KubeError) as refused:
        api.get(kind("Secret").path("app-env", env.namespace("web")))
    assert refused.value.status == 403
    with pytest.raises(KubeError) as refused:
        api.get(kind("Lease").path("someone-elses", installation.values.namespace))
    assert refused.value.status == 403

    if installation.target.is_loopback:
        denied = [r for r in installation.target.requests() if r.status == 403]
        assert [str(r) for r in denied] == [
            f"GET {kind('Secret').path('app-env', env.namespace('web'))} -> 403",
            f"GET {kind('Lease').path('someone-elses', installation.values.namespace)} -> 403",
        ]
        unused = granted(objects) - used(installation)
        assert not unused, f"granted but never needed: {sorted(unused)}"


def test_install_kinds_are_served_where_the_apply_looks(installation: Installation) -> None:
    """The paths rise install applies to are the ones the API serves (discovery)."""
    for obj in installation.objects():
        where = install_kind(obj["kind"])
        assert where.api_version == obj["apiVersion"], obj["kind"]
