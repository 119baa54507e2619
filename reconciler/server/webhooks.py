"""``POST /webhooks/git``: push and pull-request events from GitHub, Gitea and GitLab.

The handler only checks and hands over: body size (413), signature or token in constant time
(401), JSON (400), duplicate delivery (200, ignored); then it answers 202 and the
``Refresher`` thread does the slow part — fetch, find the projects whose folders changed
since it last looked, and signal the reconciler for just those. Many pushes in a burst
coalesce into one fetch. Pull-request events go to the ``PullRequestReviewer``
(``pull_requests.py``) when a ``[forge]`` is configured; a merged one is a push to main.

Unsigned deliveries are refused unless ``[webhooks] allow_unsigned = true``; with no secret
configured (``RISE_WEBHOOK_SECRET``, or the variable ``[webhooks] secret_env`` names) every
delivery is refused, and the answer says so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.server.api._http import read_capped, respond
from reconciler.server.context import ServerContext
from reconciler.server.door import loads
from reconciler.server.errors import ApiError
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.pull_requests import PullRequestReviewer, is_pull_request_event, parse_event
from reconciler.server.worker import Worker
from reconciler.state import StateError, StateRepo
from schemas.api import WebhookAnswer

log = logging.getLogger("rise.webhooks")

SignalFn = Callable[[str, "set[str] | None"], None]
_KEPT_DELIVERIES = 10_000
_MAX_DELIVERY_ECHO = 128
# Where GitHub, Gitea and GitLab name the pushed repository in a push event.
_REPOSITORY_URL_KEYS = (
    *("clone_url", "html_url", "ssh_url", "git_url", "url"),
    *("git_http_url", "git_ssh_url", "homepage", "web_url"),
)


@dataclass(frozen=True)
class _Provider:
    name: Literal["github", "gitea", "gitlab"]
    event_header: str
    delivery_header: str


_PROVIDERS = (  # Gitea also sends GitHub's headers, so it is recognised first
    _Provider("gitea", "x-gitea-event", "x-gitea-delivery"),
    _Provider("gitlab", "x-gitlab-event", "x-gitlab-event-uuid"),
    _Provider("github", "x-github-event", "x-github-delivery"),
)
_PUSH_EVENTS = {"push", "Push Hook"}
_PR_IGNORED = (
    "pull requests are commented on when [forge] is configured, for pull requests into the "
    "state branch being opened, pushed to or merged"
)
_PING_EVENTS = {"ping"}


class Refresher(Worker):
    """A thread that fetches the state repo and signals the loop for the projects that moved."""

    def __init__(self, repo: StateRepo, signal: SignalFn, poll_seconds: float | None = None):
        """``poll_seconds``: also refresh this often unasked (a remote without a webhook)."""
        super().__init__("rise-refresher", poll_seconds)
        self._repo = repo
        self._signal = signal
        self._lock = threading.Lock()
        self._reasons: list[str] = []
        self._seen = repo.head()

    def request(self, reason: str) -> None:
        with self._lock:
            self._reasons.append(reason)
        self.wake()

    def work(self, asked: bool) -> None:
        with self._lock:
            reasons, self._reasons = self._reasons or ([] if asked else ["poll"]), []
        try:
            self.refresh("; ".join(reasons[:3]) + (" …" if len(reasons) > 3 else ""))
        except StateError as exc:
            log.error("fetching the state repository failed: %s", exc)

    def refresh(self, reason: str) -> None:
        self._repo.fetch()
        head = self._repo.head()
        if head == self._seen:
            log.info("webhook: nothing new in the state repository", extra={"commit": head})
            return
        changed = self._repo.changed_projects(self._seen, head) if self._seen else None
        self._seen = head
        self._signal(reason, changed)


class _Deliveries:
    """Delivery ids seen recently; a redelivery of one of them is ignored."""

    def __init__(self, keep: int = _KEPT_DELIVERIES):
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._keep:
                self._seen.popitem(last=False)
            return True


def routes(
    ctx: ServerContext, refresher: Refresher, reviewer: PullRequestReviewer | None = None
) -> list[BaseRoute]:
    """``reviewer`` comments on pull requests (None: no ``[forge]``, they are ignored)."""
    settings = ctx.config.webhooks
    deliveries = _Deliveries()
    branch_ref = f"refs/heads/{ctx.store.repo.branch}"
    state_url = _normalised(ctx.config.state.url) if ctx.config.state.url else None

    async def git_webhook(request: Request) -> Response:
        provider = _provider(request.headers)
        try:
            body = await read_capped(request, settings.max_body_bytes)
            _verify(provider, request.headers, body, ctx.webhook_secret, settings.allow_unsigned)
            payload = _json(body)
        except ApiError as exc:
            ctx.metrics.count_webhook(provider.name, exc.error)
            raise
        event = request.headers[provider.event_header]
        delivery = request.headers.get(provider.delivery_header)
        delivery = delivery[:_MAX_DELIVERY_ECHO] if delivery is not None else None
        answer = WebhookAnswer(
            accepted=True, provider=provider.name, event=event, delivery=delivery, reconcile=False
        )
        # A digest keeps every remembered id the same small size, however long the header.
        raw_key = request.headers.get(provider.delivery_header, "").encode() or body
        key = f"{provider.name}:{hashlib.sha256(raw_key).hexdigest()}"
        if not deliveries.first_time(key):
            ctx.metrics.count_webhook(provider.name, "duplicate")
            return respond(answer.model_copy(update={"duplicate": True, "reason": "seen before"}))
        if event in _PING_EVENTS:
            ctx.metrics.count_webhook(provider.name, "ping")
            return respond(answer.model_copy(update={"reason": "pong"}))
        if is_pull_request_event(event):
            update = _pull_request(provider.name, event, payload)
            ctx.metrics.count_webhook(provider.name, "accepted" if update else "ignored")
            return respond(answer.model_copy(update=update or {"reason": _PR_IGNORED}), 202)
        if event not in _PUSH_EVENTS or payload.get("ref") != branch_ref:
            ctx.metrics.count_webhook(provider.name, "ignored")
            reason = f"only pushes to {branch_ref} reconcile"
            return respond(answer.model_copy(update={"reason": reason}), 202)
        if not _about_state_repo(payload, state_url):
            ctx.metrics.count_webhook(provider.name, "ignored")
            reason = "the push is for a repository that is not the state repository"
            return respond(answer.model_copy(update={"reason": reason}), 202)
        refresher.request(f"{provider.name} push {str(payload.get('after', ''))[:12]}")
        ctx.metrics.count_webhook(provider.name, "accepted")
        return respond(answer.model_copy(update={"reconcile": True}), 202)

    def _pull_request(provider: str, event: str, payload: dict[str, object]) -> dict[str, object]:
        """What a pull-request event sets in motion (empty: nothing)."""
        pull = parse_event(provider, event, payload)
        if reviewer is None or pull is None or pull.base != ctx.store.repo.branch:
            return {}
        if pull.action == "merged":
            refresher.request(f"{provider} pull request #{pull.number} merged")
            return {"reconcile": True, "reason": f"#{pull.number} merged"}
        if pull.action == "review":
            reviewer.submit(pull)
            return {"reason": f"reviewing #{pull.number} at {pull.head[:12]}"}
        return {}

    return [
        ApiRoute(
            "/webhooks/git",
            git_webhook,
            "POST",
            Operation(
                "Push and pull-request events of the state repository (GitHub, Gitea, GitLab)",
                response=WebhookAnswer,
                status=202,
                public=True,
                errors=(400, 401, 413),
                tag="webhooks",
                max_body_bytes=settings.max_body_bytes,
            ),
        )
    ]


def _provider(headers: Mapping[str, str]) -> _Provider:
    for provider in _PROVIDERS:
        if provider.event_header in headers:
            return provider
    raise ApiError(
        400,
        "unknown_sender",
        "not a webhook rise understands: no X-GitHub-Event, X-Gitea-Event or X-Gitlab-Event",
        "point a GitHub, Gitea or GitLab push webhook of the state repository here",
    )


def _verify(
    provider: _Provider,
    headers: Mapping[str, str],
    body: bytes,
    secret: str | None,
    allow_unsigned: bool,
) -> None:
    given = _credential(provider, headers)
    if given is None:
        if allow_unsigned:
            return
        raise _refused("the delivery is not signed", "set the webhook's secret to the server's")
    if secret is None:
        raise _refused(
            "this server has no webhook secret to check the signature with",
            "the operator sets RISE_WEBHOOK_SECRET (or [webhooks] secret_env) and restarts",
        )
    if provider.name == "gitlab":
        expected = secret
    else:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        expected = f"sha256={digest}" if provider.name == "github" else digest
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _refused(
            "the signature does not match the body",
            "the webhook's secret must equal the server's",
        )


def _credential(provider: _Provider, headers: Mapping[str, str]) -> str | None:
    header = {
        "github": "x-hub-signature-256",
        "gitea": "x-gitea-signature",
        "gitlab": "x-gitlab-token",
    }[provider.name]
    return headers.get(header)


def _json(body: bytes) -> dict[str, object]:
    payload = loads(body)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object", None)
    return payload


def _about_state_repo(payload: dict[str, object], state_url: str | None) -> bool:
    """Whether a push names the state repository. A payload that names no repository at all
    is taken as the state repository's (it cannot be told apart); one that names another
    repository — an app's, or anything else the same secret is set on — starts no work."""
    named = set()
    for section in ("repository", "project"):
        table = payload.get(section)
        if isinstance(table, dict):
            for key in _REPOSITORY_URL_KEYS:
                value = table.get(key)
                if isinstance(value, str) and value:
                    named.add(_normalised(value))
    if not named:
        return True
    return state_url is not None and state_url in named


def _normalised(url: str) -> str:
    """``host/owner/repo`` of an https, ssh or scp-like git URL (no credentials or .git)."""
    text = url.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    elif ":" in text.split("/", 1)[0]:
        text = text.replace(":", "/", 1)  # git@host:owner/repo
    text = text.rsplit("@", 1)[-1] if "@" in text.split("/", 1)[0] else text
    return text.rstrip("/").removesuffix(".git")


def _refused(message: str, hint: str) -> ApiError:
    return ApiError(401, "invalid_signature", message, hint)
