"""Following a deployment until it is healthy or failed, as ``rise d c`` and ``rise d s
--follow`` do.

The server decides the status (the reconciler's last word on the deployment); this module
only polls ``GET /projects/{p}/deployments/{id}`` and says how it ended. Stopping to follow
(Ctrl-C, the timeout) changes nothing on the server: the rollout goes on, and the message
says how to pick it up again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cli.client import Client
from cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, CliError

DEFAULT_TIMEOUT = 300.0
FIRST_INTERVAL = 0.25
MAX_INTERVAL = 2.0
# Where a deployment ends; "unknown" and "deploying" are still on the way.
SETTLED = ("running", "failed", "stopped", "superseded")


def resume_command(project: str, deployment_id: str) -> str:
    return f"rise d s {project} {deployment_id} --follow"


def follow(
    client: Client,
    project: str,
    deployment_id: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The deployment once it settled; CliError on timeout, on failure and on Ctrl-C.

    Polls often at first (a no-op rollout settles in well under a second) and then every
    couple of seconds, so a slow rollout costs the server little.
    """
    path = f"/projects/{project}/deployments/{deployment_id}"
    deadline = time.monotonic() + timeout
    interval = FIRST_INTERVAL
    try:
        while True:
            info: dict[str, Any] = client.get(path)
            if info["status"] in SETTLED:
                return settled(info)
            if time.monotonic() + interval > deadline:
                raise CliError(
                    f"deployment {deployment_id} of '{project}' is still {info['status']} after "
                    f"{_duration(timeout)}; it goes on on the server",
                    hint=f"follow it again with '{resume_command(project, deployment_id)}'",
                    exit_code=EXIT_FAILED,
                )
            sleep(interval)
            interval = min(interval * 2, MAX_INTERVAL)
    except KeyboardInterrupt:
        raise CliError(
            f"\nStopped following deployment {deployment_id} of '{project}'; "
            "it goes on on the server",
            hint=f"resume with '{resume_command(project, deployment_id)}'",
            exit_code=EXIT_INTERRUPTED,
        ) from None


def settled(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` when it is running; a CliError saying why when it is not."""
    project, deployment_id, status = info["project"], info["id"], info["status"]
    if status == "running":
        return info
    reason = info.get("reason")
    what = {
        "failed": "failed",
        "stopped": "was stopped before it became healthy",
        "superseded": "was replaced by a newer deployment before it became healthy",
    }.get(status, status)
    raise CliError(
        f"Deployment {deployment_id} of '{project}' {what}" + (f": {reason}" if reason else ""),
        hint=f"see more with 'rise d s {project} {deployment_id}' and 'rise d ls {project}'",
        exit_code=EXIT_FAILED,
    )


def success_line(info: dict[str, Any]) -> str:
    return f"Deployment successful! Your app is now running at {info['url']}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
