"""Reviews of deploys on the server: describe one (with its diff), approve it, reject it.

A review is a branch (``reconciler/state/reviews.py``). What it proposes is always judged
against the main branch as it is *now*: its files laid over main's head, then validated and
rendered. Approving merges exactly that, with compare-and-swap: the change function runs
again on whatever head it lands on, so a deploy that slipped in meanwhile is seen. A review
whose project got a newer deployment on main since it was opened is stale and refused —
merging it would silently undo that deployment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from reconciler.compare import ReadLive, diff_states, diff_with_live, format_report
from reconciler.render import RenderError, RenderSettings, render_project
from reconciler.server.api._access import Reader, editable_project, head_reader, read_project
from reconciler.server.authz import Principal
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError
from reconciler.state import Edit, ProjectState, StateError
from reconciler.state import reviews as branches
from reconciler.state.layout import project_file
from reconciler.state.reviews import Review
from schemas import DeploymentFile, SchemaError, load_toml
from schemas.api import ReviewDetail, ReviewRow


@runtime_checkable
class LiveReader(Protocol):
    """A runtime that can read the live twins of rendered objects (``kubernetes``)."""

    def read_live(self, objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]: ...


_REDEPLOY_HINT = "deploy again with --review from the current state, and ask for a new review"


class ReviewDesk:
    """The server's review operations; blocking (call them off the event loop)."""

    def __init__(self, ctx: ServerContext, settings: Callable[[], RenderSettings]):
        self._ctx = ctx
        self._settings = settings
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def find(self, project: str, review_id: str) -> Review:
        try:
            found = branches.read_review(self._ctx.store.repo, project, review_id)
        except (StateError, ValueError):
            found = None
        if found is None:
            merged = branches.merged_as(self._ctx.store.repo, project, review_id)
            if merged is not None:
                raise ApiError(
                    409,
                    "review_merged",
                    f"review {project}/{review_id} was merged already, as {merged[:12]}",
                    f"see its deployment with 'rise deployment show {review_id}'",
                )
            raise ApiError(
                404,
                "not_found",
                f"review {project}/{review_id} not found",
                "list open reviews with 'rise review ls'",
            )
        return found

    def row(self, review: Review, required: int) -> ReviewRow:
        deployment = _deployment(review)
        return ReviewRow(
            project=review.project,
            id=review.id,
            branch=review.branch,
            state=review.state,
            author=review.author,
            created_at=review.created_at,
            subject=review.subject,
            image=deployment.image if deployment else None,
            approvals=list(review.approvals),
            approvals_required=required,
            rejected_by=review.rejected_by,
            reason=review.reason,
            stale_by=review.stale_by,
            head=review.head,
            base=review.base,
        )

    def detail(self, review: Review, required: int, max_lines: int | None = None) -> ReviewDetail:
        """The row plus the diff of the review laid over main against the live objects
        (a runtime that can read them), else against main's render."""
        read = head_reader(self._ctx.store)
        before = read_project(read, review.project)
        after = read_project(overlay(read, review.files), review.project)
        settings, secrets = self._settings(), self._ctx.secrets
        read_live = live_reader(self._ctx.controller)
        if read_live is not None:
            compared = "live"
            result = diff_with_live(
                review.project, before, after, read_live, settings, secrets, review.branch
            )
        else:
            compared = "main"
            labels = ("main", review.branch)
            result = diff_states(review.project, before, after, settings, secrets, labels)
        return ReviewDetail(
            **self.row(review, required).model_dump(),
            compared_with=compared,
            changed=result.changed,
            diff=format_report([result], max_lines=max_lines),
            objects=result.to_json().get("objects", []),
            problems=[str(p) for p in result.problems],
        )

    # -- verdicts ------------------------------------------------------------------------

    def approve(self, principal: Principal, review: Review, required: int) -> ReviewRow:
        """Record ``principal``'s approval; with enough approvals, merge onto main.

        Verdicts take turns and decide on a fresh read: two last approvals at once make
        one merge, and no verdict lands on a branch a merge just removed."""
        with self._lock:
            return self._approve(principal, self.find(review.project, review.id), required)

    def reject(self, principal: Principal, review: Review, reason: str, required: int) -> ReviewRow:
        with self._lock:
            review = self.find(review.project, review.id)
            _check_open(review)
            self._record(
                principal,
                review,
                f"reject {review.project} {review.id}",
                [(branches.REJECTED_BY, principal.username), (branches.REASON, _one_line(reason))],
            )
            return self.row(self.find(review.project, review.id), required)

    def _approve(self, principal: Principal, review: Review, required: int) -> ReviewRow:
        _check_open(review)
        if principal.username == review.author:
            raise ApiError(
                403,
                "self_approval",
                f"you asked for review {review.project}/{review.id}; you cannot approve it",
                "another member of the project's team (or an admin) approves it",
            )
        if review.stale_by is not None:
            raise _stale(review, review.stale_by)
        approvals = [*review.approvals, principal.username]
        approvals = list(dict.fromkeys(a for a in approvals if a != review.author))
        if len(approvals) < required:
            self._record(
                principal,
                review,
                f"approve {review.project} {review.id}",
                [(branches.APPROVED_BY, principal.username)],
            )
            return self.row(self.find(review.project, review.id), required)
        commit = self._merge(principal, review, approvals)
        merged = self.row(review, required).model_copy(
            update={"state": "merged", "approvals": approvals, "commit": commit}
        )
        self._ctx.signal(
            f"review {review.branch} approved by {principal.username}", {review.project}
        )
        return merged

    def _record(
        self, principal: Principal, review: Review, subject: str, trailers: list[tuple[str, str]]
    ) -> None:
        message = f"{subject}\n\n{branches.trailer_block(trailers)}\n"

        def verdict(edit: Edit) -> str:
            return message

        self._ctx.store.commit(verdict, principal.username, branch=review.branch, allow_empty=True)

    def _merge(self, principal: Principal, review: Review, approvals: list[str]) -> str | None:
        """Lay the review over main's head (again on every lost race), check, commit."""
        trailers = [
            (branches.REVIEW, review.branch),
            (branches.REQUESTED_BY, review.author),
            *[(branches.APPROVED_BY, name) for name in approvals],
        ]
        message = f"{review.subject}\n\n{branches.trailer_block(trailers)}\n"
        check = self._renders

        def change(edit: Edit) -> str:
            editable_project(edit, principal, review.project)
            for path, data in review.files.items():
                current, base = edit.read(path), review.base_files.get(path)
                if current not in (base, data):
                    raise _conflict(review, path)
                if data is None:
                    edit.delete(path)
                else:
                    edit.write(path, data)
            check(read_project(edit.read, review.project), review)
            return message

        result = self._ctx.store.commit(change, review.author, merge=review.head)
        branches.delete_review(self._ctx.store.repo, review)
        return result.commit

    def _renders(self, state: ProjectState | None, review: Review) -> None:
        if state is None or not state.valid:
            problems = [str(p) for p in state.problems] if state else ["the project is gone"]
            raise ApiError(
                409,
                "invalid_review",
                f"review {review.project}/{review.id} would make the project invalid on the "
                f"current main: {problems[0]}",
                _REDEPLOY_HINT,
                problems=problems,
            )
        try:
            render_project(state, self._settings(), self._ctx.secrets)
        except RenderError as exc:
            problems = [str(p) for p in exc.problems]
            raise ApiError(
                409,
                "invalid_review",
                f"review {review.project}/{review.id} cannot be rendered on the current main: "
                f"{problems[0]}",
                _REDEPLOY_HINT,
                problems=problems,
            ) from None


def live_reader(controller: object) -> ReadLive | None:
    """How to read live objects, when the controller's runtime can (``kubernetes``)."""
    runtime = getattr(controller, "runtime", None)
    return runtime.read_live if isinstance(runtime, LiveReader) else None


def overlay(read: Reader, files: dict[str, bytes | None]) -> Reader:
    """Reads of ``read`` with ``files`` laid over them (None: deleted)."""
    return lambda path: files[path] if path in files else read(path)


def approvals_required(state: ProjectState) -> int:
    return state.project.settings.approvals if state.project else 1


def _deployment(review: Review) -> DeploymentFile | None:
    path = project_file(review.project, "deployment.toml")
    data = review.files.get(path)
    try:
        return load_toml(data, DeploymentFile, path) if data else None
    except SchemaError:
        return None


def _check_open(review: Review) -> None:
    if review.rejected_by is not None:
        raise ApiError(
            409,
            "review_closed",
            f"review {review.project}/{review.id} was rejected by {review.rejected_by}"
            + (f": {review.reason}" if review.reason else ""),
            _REDEPLOY_HINT,
        )


def _stale(review: Review, commit: str | None) -> ApiError:
    where = f"commit {commit[:12]}" if commit else "a commit landed while approving"
    return ApiError(
        409,
        "review_stale",
        f"review {review.project}/{review.id} is stale: main has a newer deployment of "
        f"{review.project!r} ({where}) than the one it was opened against; approving it "
        "would undo that deployment, so it is not merged",
        _REDEPLOY_HINT,
    )


def _conflict(review: Review, path: str) -> ApiError:
    if path.endswith("/deployment.toml"):
        return _stale(review, None)
    return ApiError(
        409,
        "review_stale",
        f"review {review.project}/{review.id} is stale: {path} changed on main since it was "
        "opened, and the review changes it too",
        _REDEPLOY_HINT,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
