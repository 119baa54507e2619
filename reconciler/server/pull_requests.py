"""Pull requests of the state repo on a forge: rise's rendered, secrets-masked diff on each.

A pull-request webhook (GitHub ``pull_request``, Gitea ``pull_request``, GitLab ``Merge
Request Hook``) is parsed into a ``PullRequestEvent`` and queued; one worker thread takes
them in order, the newest head of each pull request only (a burst of pushes is one review):

1. fetch, so the head commit is here (a fork's head through the forge's pull ref);
2. validate the whole state at the head, as ``rise state validate`` does;
3. render every project the pull request changes, on main and at the head, and diff them
   (main's render is what the reconciler makes live), summarised per object when long;
4. post one comment, found again by its marker and edited in place on later pushes, and a
   commit status (``rise/state``: success, or failure with the first problem).

A merged pull request is a push to main: the refresher fetches and reconciles it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.compare import ProjectDiff, ReadLive, diff_states, diff_with_live, format_report
from reconciler.render import RenderSettings
from reconciler.secrets import SecretBox
from reconciler.server.forges import ForgeClient, ForgeError
from reconciler.server.worker import Worker
from reconciler.state import StateError, StateRepo
from reconciler.state.check import validation_lines
from reconciler.state.trees import has_commit, merge_base

log = logging.getLogger("rise.forge")

Action = Literal["review", "merged", "closed"]
_REVIEW_ACTIONS = {"opened", "synchronize", "synchronized", "reopened", "open", "update", "reopen"}


@dataclass(frozen=True)
class PullRequestEvent:
    number: int
    head: str
    base: str
    """The branch it wants to merge into."""
    action: Action


def parse_event(provider: str, event: str, payload: Mapping[str, Any]) -> PullRequestEvent | None:
    """The pull request an event is about, or None when it is no pull-request event rise uses."""
    try:
        if provider in ("github", "gitea") and event == "pull_request":
            pull = payload["pull_request"]
            return _event(
                int(payload.get("number") or pull["number"]),
                str(pull["head"]["sha"]),
                str(pull["base"]["ref"]),
                str(payload.get("action", "")),
                merged=bool(pull.get("merged")),
            )
        if provider == "gitlab" and event == "Merge Request Hook":
            attrs = payload["object_attributes"]
            action = str(attrs.get("action", ""))
            return _event(
                int(attrs["iid"]),
                str(attrs["last_commit"]["id"]),
                str(attrs["target_branch"]),
                "closed" if action == "close" else action,
                merged=action == "merge",
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def is_pull_request_event(event: str) -> bool:
    return event in ("pull_request", "Merge Request Hook")


def _event(
    number: int, head: str, base: str, action: str, *, merged: bool
) -> PullRequestEvent | None:
    if merged:
        return PullRequestEvent(number, head, base, "merged")
    if action == "closed":
        return PullRequestEvent(number, head, base, "closed")
    if action in _REVIEW_ACTIONS:
        return PullRequestEvent(number, head, base, "review")
    return None


class PullRequestReviewer(Worker):
    """Reviews pull requests on one worker thread; ``review`` also runs synchronously."""

    def __init__(
        self,
        repo: StateRepo,
        forge: ForgeClient,
        settings: Callable[[], RenderSettings],
        secrets: SecretBox | None,
        *,
        max_lines: int = 300,
        read_live: ReadLive | None = None,
    ):
        """``read_live``: the runtime's reads of live objects, for a second diff against them."""
        super().__init__("rise-pull-requests")
        self._read_live = read_live
        self._repo = repo
        self._forge = forge
        self._settings = settings
        self._secrets = secrets
        self._max_lines = max_lines
        self._queue: dict[int, PullRequestEvent] = {}
        self._lock = threading.Lock()

    def submit(self, event: PullRequestEvent) -> None:
        with self._lock:
            self._queue.pop(event.number, None)
            self._queue[event.number] = event  # the newest head wins
        self.wake()

    def stop(self, timeout: float) -> None:
        super().stop(timeout)
        self._forge.close()

    def work(self, asked: bool) -> None:
        while not self.stopping:
            with self._lock:
                if not self._queue:
                    return
                event = self._queue.pop(next(iter(self._queue)))
            try:
                self.review(event)
            except (ForgeError, StateError) as exc:
                log.error("pull request #%d: %s", event.number, exc)
            except Exception:  # one pull request's surprise must not stop the reviews
                log.exception("reviewing pull request #%d failed", event.number)

    def review(self, event: PullRequestEvent) -> str:
        """Validate and diff the pull request's head; comment and set the status. The body."""
        self._forge.set_status(event.head, "pending", "rise is rendering the change")
        head = self._head(event)
        body, problem = self.comment_body(event.number, head)
        self._forge.upsert_comment(event.number, body)
        if problem is None:
            self._forge.set_status(event.head, "success", "valid; the diff is in rise's comment")
        else:
            self._forge.set_status(event.head, "failure", problem)
        log.info("reviewed pull request #%d at %s", event.number, head[:12])
        return body

    def comment_body(self, number: int, head: str) -> tuple[str, str | None]:
        """The comment for ``head``, and the first problem (None when it is valid)."""
        problems, summary = validation_lines(self._repo.snapshot(head))
        main = self._repo.head() or head
        base = merge_base(self._repo, head, main) or main
        names = sorted(self._repo.changed_projects(base, head))
        label, settings, secrets = f"#{number}", self._settings(), self._secrets
        sides = [(self._repo.project(n, main), self._repo.project(n, head)) for n in names]
        results = [
            diff_states(name, old, new, settings, secrets, ("main", label))
            for name, (old, new) in zip(names, sides, strict=True)
        ]
        live = None
        if self._read_live is not None:
            read = self._read_live
            live = [
                diff_with_live(name, old, new, read, settings, secrets, label)
                for name, (old, new) in zip(names, sides, strict=True)
            ]
        render_problems = [str(p) for r in results for p in r.problems]
        text = render_comment(
            head, problems + render_problems, summary, results, self._max_lines, live
        )
        first = (problems + render_problems)[:1]
        return text, first[0] if first else None

    def _head(self, event: PullRequestEvent) -> str:
        self._repo.fetch()
        if not has_commit(self._repo, event.head):
            fetched = self._repo.fetch_ref(self._forge.pull_ref(event.number))
            if fetched != event.head and not has_commit(self._repo, event.head):
                raise StateError(f"the head {event.head[:12]} of #{event.number} is not fetchable")
        return event.head


def render_comment(
    head: str,
    problems: list[str],
    summary: str,
    results: list[ProjectDiff],
    max_lines: int,
    live: list[ProjectDiff] | None = None,
) -> str:
    """Markdown: the verdict, then ``rise diff``'s text in a diff block (secrets masked);
    with ``live``, also what merging would change in the cluster as it is now, per object."""
    lines = [f"### rise: what merging {head[:12]} changes"]
    if problems:
        lines += ["", f"**Invalid** — {summary}", "", "```", *problems, "```"]
    else:
        lines += ["", f"**Valid** — {summary}"]
    changed = [r for r in results if r.changed]
    diff = format_report(changed, max_lines=max_lines)
    lines += [
        "",
        f"Compared with main (what the reconciler makes live): {len(results)} "
        f"project(s) changed in git, {len(changed)} with object changes.",
    ]
    if diff:
        lines += ["", "```diff", diff.rstrip("\n"), "```"]
    if live is not None:
        now = format_report(live, max_lines=0)  # per object: the details are above
        lines += ["", "Compared with the cluster now (drift included):", ""]
        lines += ["```diff", now.rstrip("\n") or "No changes.", "```"]
    lines += ["", "_Secret values are masked. Updated on every push._"]
    return "\n".join(lines) + "\n"
