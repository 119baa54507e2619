"""Which rise installation an object belongs to, so installations sharing a cluster never
see, compare or prune each other's objects.

An installation is one state repository reconciled to one cluster (by one or more replicas).
Its identity is the label ``rise.dev/installation`` that the Kubernetes runtime puts on every
object it applies (and on the pod template of a Deployment, so pods can be selected by it);
inventories, prunes and health reads select by it. It is configured
(``kubernetes.installation``) or derived from the state repository: the first 12 hex digits
of its root commit, which every clone and every replica shares and no other repository has.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.runtimes.base import Desired
    from reconciler.state import StateRepo

INSTALLATION = "rise.dev/installation"
# A label value: at most 63 characters, alphanumerics with -_. inside.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def check_installation(value: str) -> str:
    """``value`` when it can be a label value; ValueError says how to fix it otherwise."""
    if not _LABEL_VALUE.match(value):
        raise ValueError(
            f"installation {value!r} is not a valid label value: use 1-63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def default_installation(repo: StateRepo) -> str:
    """The state repository's root commit, shortened: the same in every clone of it."""
    import pygit2

    head = repo.head()
    if head is None:
        raise ValueError(
            f"the state repository at {repo.path} has no commit on {repo.branch!r} to derive "
            "an installation identity from; set kubernetes.installation"
        )
    walker = repo.git.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    return str(next(iter(walker)).id)[:12]


def stamped(desired: Desired, installation: str) -> bytes:
    """The apply body of ``desired``: its JSON with the installation label on the object and,
    for workloads, on their pod template (so their pods carry it too)."""
    obj = desired.obj()
    _label(obj, installation)
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _label(template, installation)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def unstamped(live: dict[str, Any]) -> dict[str, Any]:
    """``live`` without the label ``stamped`` added, so it compares with a render (which
    never carries it) as the object rise applied."""
    _unlabel(live)
    template = (live.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _unlabel(template)
    return live


def _unlabel(obj: dict[str, Any]) -> None:
    labels = (obj.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(INSTALLATION, None)


def _label(obj: dict[str, Any], installation: str) -> None:
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), INSTALLATION: installation}
