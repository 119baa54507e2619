"""The web dashboard served by ``rise server`` under ``/ui/``, and its event stream."""

from __future__ import annotations

from starlette.routing import BaseRoute

from reconciler.server.context import ServerContext
from reconciler.server.ui import events, pages, reviews


def routes(ctx: ServerContext) -> list[BaseRoute]:
    return [*pages.routes(ctx), *reviews.routes(ctx), *events.routes(ctx)]
