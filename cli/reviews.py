"""``rise review``: list, show, approve and reject deployments waiting for review.

A review is named ``PROJECT/ID`` or just ``ID`` (its deployment id; the project is looked up).
The server decides who may approve, whether a review is stale, and merges; this module asks
and prints.
"""

from __future__ import annotations

from typing import Any

import click

from cli._group import AliasedGroup
from cli.client import Client
from cli.errors import EXIT_NOT_FOUND, CliError
from cli.output import detail, emit, output_option, style, table
from cli.session import session_client

REVIEW_COLUMNS = ("PROJECT", "ID", "STATE", "AUTHOR", "IMAGE", "APPROVALS", "CREATED")
_ALL_STATES = "open,stale,rejected"
_LINE_COLOURS = {"+": "green", "-": "red", "~": "yellow", "@": "cyan"}


@click.group(cls=AliasedGroup)
def review() -> None:
    """Deployments waiting for review: list, show, approve, reject."""


@review.command("list")
@click.argument("project", required=False)
@click.option("--all", "everything", is_flag=True, help="Include rejected reviews.")
@output_option
def list_reviews(project: str | None, everything: bool, output: str) -> None:
    """List open (and stale) reviews, of PROJECT or of every project you may see."""
    state = _ALL_STATES if everything else None
    path = f"/projects/{project}/reviews" if project else "/reviews"
    emit(session_client().get(path, state=state), output, _rows)


@review.command("show")
@click.argument("review_id", metavar="[PROJECT/]ID")
@click.option("--max-lines", type=int, help="Summarise the diff per object past this many lines.")
@output_option
def show(review_id: str, max_lines: int | None, output: str) -> None:
    """Who asked for what and when, and the diff approving it would apply (secrets masked)."""
    client = session_client()
    path = _path(client, review_id)
    emit(client.get(path, max_lines=max_lines), output, _detail)


@review.command("approve")
@click.argument("review_id", metavar="[PROJECT/]ID")
@output_option
def approve(review_id: str, output: str) -> None:
    """Approve; with the approvals the project needs, it merges and deploys."""
    client = session_client()
    emit(client.post(f"{_path(client, review_id)}/approve"), output, _approved)


@review.command("reject")
@click.argument("review_id", metavar="[PROJECT/]ID")
@click.option("--reason", required=True, help="Why; recorded in git with your name.")
@output_option
def reject(review_id: str, reason: str, output: str) -> None:
    """Reject with a reason; the deployment never reaches main."""
    client = session_client()
    answer = client.post(f"{_path(client, review_id)}/reject", {"reason": reason})
    emit(
        answer,
        output,
        lambda r: f"Rejected review {r['project']}/{r['id']}: {r['reason']}",
    )


def _path(client: Client, review_id: str) -> str:
    """``/reviews/{project}/{id}``; a bare id is looked up among the reviews you may see."""
    project, slash, wanted = review_id.rpartition("/")
    if slash:
        return f"/reviews/{project}/{wanted}"
    rows = client.get("/reviews", state=_ALL_STATES)
    found = [r for r in rows if r["id"] == wanted]
    if len(found) == 1:
        return f"/reviews/{found[0]['project']}/{wanted}"
    if found:
        projects = ", ".join(sorted(r["project"] for r in found))
        raise CliError(
            f"review id {wanted!r} is in several projects ({projects})",
            hint=f"name one, e.g. 'rise review show {found[0]['project']}/{wanted}'",
            exit_code=EXIT_NOT_FOUND,
        )
    import difflib

    close = difflib.get_close_matches(wanted, [r["id"] for r in rows], n=1)
    raise CliError(
        f"review {wanted!r} not found",
        hint=f"did you mean '{close[0]}'?" if close else "list reviews with 'rise review ls'",
        exit_code=EXIT_NOT_FOUND,
    )


def _rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No reviews waiting."
    return table(
        REVIEW_COLUMNS,
        [
            (
                r["project"],
                r["id"],
                _state(r["state"]),
                r["author"],
                r.get("image") or "-",
                f"{len(r['approvals'])}/{r['approvals_required']}",
                r["created_at"],
            )
            for r in rows
        ],
    )


def _state(state: str) -> str:
    colour = {"open": "yellow", "stale": "red", "rejected": "bright_black", "merged": "green"}
    return style(state, fg=colour.get(state))


def _detail(r: dict[str, Any]) -> str:
    head = detail(
        [
            ("review", f"{r['project']}/{r['id']}"),
            ("state", _state(r["state"])),
            ("asked by", f"{r['author']} at {r['created_at']}"),
            ("change", r["subject"]),
            ("image", r.get("image")),
            (
                "approvals",
                f"{', '.join(r['approvals']) or 'none'} "
                f"({len(r['approvals'])} of {r['approvals_required']})",
            ),
            ("rejected by", r.get("rejected_by")),
            ("reason", r.get("reason")),
            ("stale since", r.get("stale_by")),
            ("branch", r["branch"]),
        ]
    )
    problems = "".join(f"\n  {p}" for p in r.get("problems") or [])
    if problems:
        return f"{head}\ncannot be rendered on today's main:{problems}"
    if not r["changed"]:
        return f"{head}\n\nNo change to the cluster compared with {r['compared_with']}."
    lines = [style(line, fg=_LINE_COLOURS.get(line[:1])) for line in r["diff"].splitlines()]
    return f"{head}\n\nCompared with {r['compared_with']}:\n" + "\n".join(lines)


def _approved(r: dict[str, Any]) -> str:
    name = f"{r['project']}/{r['id']}"
    if r["state"] == "merged":
        commit = (r.get("commit") or "")[:12]
        return f"Approved review {name}: merged onto main as {commit}; the reconcile follows."
    missing = r["approvals_required"] - len(r["approvals"])
    return (
        f"Approved review {name} ({len(r['approvals'])} of {r['approvals_required']} "
        f"approvals); it merges after {missing} more."
    )
