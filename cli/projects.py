"""``rise project`` (``rise p``): create, list, show, update and delete projects.

Thin commands: the server decides (names, owners, permissions) and says why it refused; this
module asks and prints.
"""

from __future__ import annotations

from typing import Any

import click

from cli._group import AliasedGroup
from cli._named import delete_named, suggesting, update_named
from cli.completion import complete_projects
from cli.output import detail, emit, output_option, status_text, table
from cli.session import session_client

PROJECT_COLUMNS = ("PROJECT", "STATUS", "URL", "VISIBILITY", "OWNER")

_project_name = click.argument("name", shell_complete=complete_projects)


@click.group(cls=AliasedGroup)
def project() -> None:
    """Create and manage projects (alias: p)."""


@project.command("create")
@click.argument("name")
@click.option(
    "--visibility",
    type=click.Choice(["public", "private"]),
    default="public",
    show_default=True,
    help="private: only the owner (and admins) may open the app.",
)
@click.option("--owner", metavar="user:NAME|team:NAME", help="Who owns it (default: you).")
@output_option
def create(name: str, visibility: str, owner: str | None, output: str) -> None:
    """Create a project; its NAME becomes its hostname."""
    body = {"name": name, "visibility": visibility, "owner": owner}
    created = session_client().post("/projects", {k: v for k, v in body.items() if v is not None})
    emit(
        created,
        output,
        lambda p: (
            f"Created project '{p['name']}' with {p['visibility']} visibility "
            f"owned by {p['owner']}."
        ),
    )


@project.command("list")
@output_option
def list_projects(output: str) -> None:
    """List the projects you may see."""
    emit(session_client().get("/projects"), output, projects_table)


@project.command("show")
@_project_name
@output_option
def show(name: str, output: str) -> None:
    """Show a project: status, URL, owner, settings and current deployment."""
    client = session_client()
    with suggesting(client, name):
        emit(client.get(f"/projects/{name}"), output, _project_detail)


@project.command("update")
@_project_name
@click.option("--visibility", type=click.Choice(["public", "private"]))
@click.option("--owner", metavar="user:NAME|team:NAME", help="Give the project to someone.")
@click.option("--review", type=click.Choice(["optional", "required"]), help="Review policy.")
@click.option("--max-replicas", type=int, help="Cap on replicas per deployment.")
@click.option("--max-cpu", help="Cap on CPU per replica, e.g. 500m.")
@click.option("--max-memory", help="Cap on memory per replica, e.g. 512Mi.")
@output_option
def update(
    name: str,
    visibility: str | None,
    owner: str | None,
    review: str | None,
    max_replicas: int | None,
    max_cpu: str | None,
    max_memory: str | None,
    output: str,
) -> None:
    """Change a project's owner, visibility or policy settings."""
    settings = {
        key: value
        for key, value in {
            "review": review,
            "max_replicas": max_replicas,
            "max_cpu": max_cpu,
            "max_memory": max_memory,
        }.items()
        if value is not None
    }
    body: dict[str, Any] = {"visibility": visibility, "owner": owner}
    body = {k: v for k, v in body.items() if v is not None}
    if settings:
        body["settings"] = settings
    if not body:
        raise click.UsageError("nothing to change: give --visibility, --owner or a setting")
    update_named("project", name, body, output, lambda p: f"Updated project '{p['name']}'.")


@project.command("delete")
@_project_name
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a project: its app is removed from the cluster (its history stays in git)."""
    delete_named("project", name, yes=yes, question=f"Delete project '{name}' and stop its app?")


def projects_table(rows: list[dict[str, Any]]) -> str:
    return table(
        PROJECT_COLUMNS,
        [
            (r["name"], status_text(r["status"]), r["url"], r["visibility"], r["owner"])
            for r in rows
        ],
    )


def _project_detail(p: dict[str, Any]) -> str:
    deployment = p.get("deployment") or {}
    settings = p.get("settings") or {}
    lines = detail(
        [
            ("project", p["name"]),
            ("status", status_text(p["status"])),
            ("url", p["url"]),
            ("owner", p["owner"]),
            ("visibility", p["visibility"]),
            ("deployment", deployment.get("id")),
            ("image", deployment.get("image")),
            ("deployed by", deployment.get("created_by")),
            ("review", settings.get("review")),
            ("max replicas", settings.get("max_replicas")),
            ("created", f"{p.get('created_at') or '-'} by {p.get('created_by') or '-'}"),
        ]
    )
    problems = "".join(f"\n  {problem}" for problem in p.get("problems") or [])
    return lines + (f"\nproblems:{problems}" if problems else "")
