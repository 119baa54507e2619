"""``/api/v1/projects/{project}/deployments/{deployment}/timeline`` and ``.../manifests``.

The timeline: when the deployment was committed (git) and when the reconcile loop applied
it, rolled it out and found it healthy or failed, with the reason (the loop's in-memory
``Timelines``; a controller without them has only the commit). The manifests: the objects
the deployment's commit renders (secret values masked) and the diff from the commit before
it — what the deployment changed. Rendering needs the right to change the project, as the
environment's values do: a rendered Deployment carries them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.compare import diff_states
from reconciler.render import RenderError, RenderSettings, render_project
from reconciler.secrets import MASK
from reconciler.server.api._access import visible_project
from reconciler.server.api._http import blocking, caller, path_name, respond
from reconciler.server.api._views import deployment_info
from reconciler.server.api.deployments import deployment_id, find_deployment
from reconciler.server.authz import Access
from reconciler.server.context import ServerContext
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.state import StateError
from reconciler.timeline import Timelines
from reconciler.yaml_text import dump_yaml
from schemas.api import (
    DeploymentManifests,
    DeploymentTimeline,
    ObjectChange,
    RenderedObject,
    TimelineStep,
)

_TAG = "deployments"


def routes(ctx: ServerContext, settings: Callable[[], RenderSettings]) -> list[BaseRoute]:
    async def timeline(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        wanted = deployment_id(request)
        principal = await caller(request, ctx)
        await blocking(visible_project, ctx.store, principal, name)
        return respond(await blocking(deployment_timeline, ctx, name, wanted))

    async def manifests(request: Request) -> Response:
        name = path_name(request, "project", "project name")
        wanted = deployment_id(request)
        principal = await caller(request, ctx)
        await blocking(visible_project, ctx.store, principal, name, Access.CHANGE)
        return respond(await blocking(deployment_manifests, ctx, settings(), name, wanted))

    item = "/api/v1/projects/{project}/deployments/{deployment}"
    return [
        ApiRoute(
            f"{item}/timeline",
            timeline,
            "GET",
            Operation(
                "When it was committed, applied, rolled out, and found healthy or failed (why)",
                response=DeploymentTimeline,
                errors=(404,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            f"{item}/manifests",
            manifests,
            "GET",
            Operation(
                "The objects its commit renders (secrets masked) and the diff it made",
                response=DeploymentManifests,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
    ]


def deployment_timeline(ctx: ServerContext, name: str, wanted: str) -> DeploymentTimeline:
    """Blocking (reads git)."""
    found = find_deployment(ctx, name, wanted)
    current = ctx.store.repo.project(name)
    info = deployment_info(
        ctx, name, found.deployment, current.deployment if current else None, found.commit
    )
    steps = [TimelineStep(step="committed", at=found.committed_at or info.created_at)]
    timelines = getattr(ctx.controller, "timelines", None)
    if isinstance(timelines, Timelines):
        steps += [
            TimelineStep(step=m.step, at=m.at, reason=m.reason) for m in timelines.of(name, wanted)
        ]
    return DeploymentTimeline(
        project=name,
        id=wanted,
        status=info.status,
        reason=info.reason,
        commit=found.commit,
        steps=steps,
    )


def deployment_manifests(
    ctx: ServerContext, settings: RenderSettings, name: str, wanted: str
) -> DeploymentManifests:
    """Blocking (reads git, renders twice)."""
    found = find_deployment(ctx, name, wanted)
    repo = ctx.store.repo
    try:
        base: str | None = str(repo.resolve(f"{found.commit}^").id)
    except StateError:
        base = None  # the first commit of the repository
    after = repo.project(name, found.commit)
    before = repo.project(name, base) if base else None
    objects: list[RenderedObject] = []
    problems: list[str] = []
    try:
        rendered = render_project(after, settings, None) if after else []
    except RenderError as exc:
        rendered, problems = [], [str(p) for p in exc.problems]
    for obj in rendered:
        meta = obj.get("metadata") or {}
        objects.append(
            RenderedObject(
                kind=str(obj.get("kind", "")),
                namespace=meta.get("namespace"),
                name=str(meta.get("name", "")),
                manifest=dump_yaml([_masked(obj)]),
            )
        )
    labels = ((base or "")[:12] or "nothing", found.commit[:12])
    result = diff_states(name, before, after, settings, None, labels)
    changes = [ObjectChange.model_validate(d.to_json()) for d in result.diffs]
    return DeploymentManifests(
        project=name,
        id=wanted,
        commit=found.commit,
        base=base,
        objects=objects,
        changes=changes,
        problems=problems,
    )


def _masked(obj: dict[str, Any]) -> dict[str, Any]:
    """Rendered without the secrets' key every secret value is the mask already; a Secret's
    values are masked here once more, whatever else (a pull credential) put them there."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in ("data", "stringData"):
        if isinstance(out.get(key), dict):
            out[key] = dict.fromkeys(out[key], MASK)
    return out
