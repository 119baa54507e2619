"""The ``rendered`` runtime: hydrated manifests on a branch of the state repo (SPEC §5).

For Argo CD, Flux or ``kubectl apply -R`` users: each project's objects are written to
``projects/<project>/<rank>-<kind>-<name>.yaml`` on the branch ``rendered`` (configurable),
one commit per pass that changed something, authored by the reconciler. A project that left
git loses its folder. ``<rank>`` is the kind's place in the apply order (``00`` Namespace,
``01`` ServiceAccount…), so ``kubectl apply --server-side -R -f`` of a checkout, which
reads files in name order, creates each namespace before what goes in it.

Each project folder and the branch's root hold a ``Kustomization`` (the name kustomize,
``kubectl apply -k``, Argo CD and Flux look for beside ``kustomization.yaml``) listing the
project's files, and the root listing every project folder; ``kubectl apply -R -f`` skips
it, as it reads only ``.yaml``, ``.yml`` and ``.json`` files. So the branch works as it is
with either.

Secrets never reach git in clear text (SPEC §8): this runtime never gets decrypted values,
and Secret objects are left out of the branch; provide them in the cluster some other way
(Sealed Secrets, External Secrets, or the ``kubernetes`` runtime).

An object is rewritten only when its ``rise.dev/spec-hash`` differs from the one in its file,
so an unchanged project costs a few reads and no write. Health is not known here: the tool
that applies the branch knows it; a project whose manifests are committed reports
``running`` (or ``stopped``) with a reason that says so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.health import DeploymentHealth, ProjectHealth
from reconciler.runtimes.base import Desired, ObjectRef, SyncError, SyncResult, kind_rank
from reconciler.state import Author, Edit, StateError, StateRepo, layout
from reconciler.status import StatusState
from reconciler.yaml_text import dump_yaml

ProjectFiles = dict[str, str | None]
"""File name in the project's folder -> the spec-hash in it (None: no hash found)."""

AUTHOR = Author("rise-reconciler", "reconciler@rise.local")
README = "README.md"
KUSTOMIZATION = "Kustomization"
_HASH_LINE = re.compile(rb"^\s+rise\.dev/spec-hash:\s*['\"]?([0-9a-f]+)['\"]?\s*$", re.M)
_README_TEXT = """# Rendered manifests

Written by the rise reconciler: `projects/<project>/<rank>-<kind>-<name>.yaml` holds every
object of a project as rise renders it from the main branch, numbered in apply order. Do not
edit: the next pass overwrites it. Secrets are not here; create them in the cluster another
way.

    kubectl apply --server-side -R -f projects/    # or: kubectl apply -k .

Argo CD and Flux take the branch (or one project's folder) as a kustomization.
"""
_MAIN_BRANCH_TOP = ("rise-state.toml", "projects", "teams", "service-accounts")


def file_name(ref: ObjectRef) -> str:
    return f"{kind_rank(ref.kind):02d}-{ref.kind.lower()}-{ref.name}.yaml"


def kustomization(resources: Sequence[str]) -> bytes:
    """A kustomization listing ``resources`` (files, or folders holding one)."""
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        *(f"- {name}" for name in sorted(resources)),
    ]
    return ("\n".join(lines) + "\n").encode()


class RenderedRuntime:
    name = "rendered"
    needs_secrets = False

    def __init__(self, repo: StateRepo, *, branch: str = "rendered", author: Author = AUTHOR):
        if branch == repo.branch:
            raise ValueError(f"the rendered branch must not be the state branch {branch!r}")
        self.repo = repo
        self.branch = branch
        self.author = author
        self.commits = 0
        self._staged: dict[str, dict[str, bytes | None] | None] = {}
        self._lock = threading.Lock()

    # -- inventory -------------------------------------------------------------------------

    def inventory(self, desired: Mapping[ObjectRef, Desired]) -> dict[str, ProjectFiles]:
        """The projects on the branch and the hash in each of their files."""
        found: dict[str, ProjectFiles] = {}

        def read(edit: Edit) -> None:
            if edit.read(README) is None:  # no rendered branch yet: it starts from main
                return
            for project in edit.list(layout.PROJECTS):
                folder = f"{layout.PROJECTS}/{project}"
                found[project] = {
                    name: _hash_of(edit.read(f"{folder}/{name}")) for name in edit.list(folder)
                }

        try:
            self.repo.commit(read, self.author, branch=self.branch)  # reads; commits nothing
        except StateError as exc:
            raise SyncError(f"reading branch {self.branch!r}: {exc}", transient=True) from None
        return found

    # -- sync ------------------------------------------------------------------------------

    def sync(
        self, project: str, desired: Sequence[Desired], live: ProjectFiles | None, *, fresh: bool
    ) -> SyncResult[ProjectFiles]:
        current = dict(live or {})
        changes: dict[str, bytes | None] = {}
        applied = unchanged = 0
        wanted: ProjectFiles = {}
        for item in desired:
            if item.ref.kind == "Secret":
                continue  # never in git in clear text
            name = file_name(item.ref)
            wanted[name] = item.spec_hash
            if name in current and current[name] == item.spec_hash:
                unchanged += 1
                continue
            changes[name] = _yaml(item.obj())
            applied += 1
        listed = current.keys() - {KUSTOMIZATION}
        pruned = [name for name in listed if name not in wanted]
        changes.update(dict.fromkeys(pruned))
        if KUSTOMIZATION not in current or listed != wanted.keys():
            changes[KUSTOMIZATION] = kustomization(list(wanted))
        wanted[KUSTOMIZATION] = None
        if changes:
            self._stage(project, changes)
        return SyncResult(
            live=wanted,
            health=_health(desired, self.branch),
            applied=applied,
            unchanged=unchanged,
            pruned=len(pruned),
        )

    def remove(self, project: str, live: ProjectFiles) -> SyncResult[ProjectFiles]:
        with self._lock:
            self._staged[project] = None
        return SyncResult(
            live=None,
            health=ProjectHealth("stopped", "removed from the state repository"),
            pruned=len(live.keys() - {KUSTOMIZATION}),
        )

    def _stage(self, project: str, changes: dict[str, bytes | None]) -> None:
        with self._lock:
            staged = self._staged.setdefault(project, {})
            if staged is None:
                staged = self._staged[project] = {}
            staged.update(changes)

    # -- commit ----------------------------------------------------------------------------

    def finish_pass(self) -> None:
        """One commit with everything staged in this pass (none when nothing changed)."""
        with self._lock:
            staged, self._staged = self._staged, {}
        if not staged:
            return

        def write(edit: Edit) -> str:
            if edit.read(README) is None:
                for top in _MAIN_BRANCH_TOP:  # a new branch starts as a copy of main
                    edit.delete(top)
                edit.write(README, _README_TEXT)
            for project, files in staged.items():
                folder = f"{layout.PROJECTS}/{project}"
                if files is None:
                    edit.delete(folder)
                    continue
                for name, data in files.items():
                    if data is None:
                        edit.delete(f"{folder}/{name}")
                    else:
                        edit.write(f"{folder}/{name}", data)
            folders = [f"{layout.PROJECTS}/{p}" for p in edit.list(layout.PROJECTS)]
            root = kustomization(folders)
            if edit.read(KUSTOMIZATION) != root:
                edit.write(KUSTOMIZATION, root)
            return _message(staged)

        try:
            result = self.repo.commit(write, self.author, branch=self.branch)
        except StateError as exc:
            raise SyncError(
                f"committing to branch {self.branch!r} failed, nothing was written: {exc}",
                transient=True,
            ) from None
        if result.commit is not None:
            self.commits += 1


def _message(staged: Mapping[str, Mapping[str, Any] | None]) -> str:
    removed = sorted(p for p, files in staged.items() if files is None)
    changed = sorted(p for p, files in staged.items() if files is not None)
    parts = []
    if changed:
        parts.append(f"render {len(changed)} project{'s' * (len(changed) != 1)}")
    if removed:
        parts.append(f"remove {len(removed)} project{'s' * (len(removed) != 1)}")
    listing = "\n".join([*(f"render {p}" for p in changed), *(f"remove {p}" for p in removed)])
    return f"{', '.join(parts)}\n\n{listing}"


def _hash_of(data: bytes | None) -> str | None:
    if data is None:
        return None
    match = _HASH_LINE.search(data)
    return match.group(1).decode() if match else None


def _yaml(obj: dict[str, Any]) -> bytes:
    return dump_yaml([obj]).encode()


def _health(desired: Sequence[Desired], branch: str) -> ProjectHealth:
    deployment = next((d for d in desired if d.ref.kind == "Deployment"), None)
    if deployment is None or deployment.deployment_id is None:
        return ProjectHealth("stopped", "no deployment")
    replicas = (deployment.obj().get("spec") or {}).get("replicas", 1)
    state: StatusState = "stopped" if replicas == 0 else "running"
    reason = f"manifests committed to branch {branch!r}; the tool that applies them has its status"
    item = DeploymentHealth(state, reason, available=True)
    return ProjectHealth(state, reason, deployment.deployment_id, {deployment.deployment_id: item})
