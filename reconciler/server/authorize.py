"""``rise login --browser``: rise as the OAuth authorization server of its own CLI.

The authorization code grant (RFC 6749 section 4.1) for the one public client ``rise-cli``,
with PKCE S256 required (RFC 7636; ``plain`` is refused: a code seen on its way back is
worth nothing without the verifier) and the loopback redirect of native apps (RFC 8252
section 7.3): ``http://127.0.0.1:<any port>/...`` or ``http://[::1]:<any port>/...``, never
``localhost`` (a name the network may resolve elsewhere, section 8.3), never another host.

``GET /oauth/authorize`` checks the request; a bad ``client_id`` or ``redirect_uri`` is an
error page (rise never redirects to an address it has not validated), anything else wrong
goes back to the client as ``error=`` (section 4.1.2.1). Without a login-page session the
person signs in on the login page, which returns here (its ``next`` hook, so any sign-in the
page offers works); signed in, they approve or deny. Approval redirects with a code that
lives ``[auth.browser] code_ttl`` seconds, is single-use, bound to the client, the redirect
URI and the challenge, and is kept in memory only, by its SHA-256. ``/oauth/token`` redeems
it with ``grant_type=authorization_code`` and the verifier (``redeem``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.server.api.auth import AUTHORIZE_ENDPOINT
from reconciler.server.context import ServerContext
from reconciler.server.device import DeviceError
from reconciler.server.login_pages import (
    CLIENT_IDS,
    COOKIE,
    Renderer,
    Sessions,
    read_form,
    renderer,
    sign_in_form,
)
from reconciler.server.throttle import Throttled

AUTHORIZATION_CODE = "authorization_code"
MAX_CODES = 10_000
MAX_REDIRECT_URI = 2000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL of a SHA-256, no padding
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1
_REQUEST_FIELDS = ("client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state")

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    username: str
    expires_at: float


class AuthorizationCodes:
    """Issued codes by their SHA-256, in memory; each is gone at its first redemption."""

    def __init__(self, ttl: int, clock: Clock = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._codes: OrderedDict[str, _Code] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, client_id: str, redirect_uri: str, challenge: str, username: str) -> str:
        code = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for key in [k for k, c in self._codes.items() if now >= c.expires_at]:
                del self._codes[key]
            if len(self._codes) >= MAX_CODES:
                raise Throttled("too many logins are waiting; try again shortly", 5)
            entry = _Code(client_id, redirect_uri, challenge, username, now + self._ttl)
            self._codes[_digest(code)] = entry
        return code

    def redeem(self, form: dict[str, str]) -> str:
        """The user name a code was approved for, or a ``DeviceError`` in RFC 6749 5.2 terms.

        A well-formed request uses the code up whatever the outcome, so a wrong verifier
        cannot be retried against it."""
        client_id = form.get("client_id", "")
        if client_id not in CLIENT_IDS:
            raise DeviceError("invalid_client", f"unknown client_id {client_id!r}")
        missing = [f for f in ("code", "redirect_uri", "code_verifier") if not form.get(f)]
        if missing:
            raise DeviceError("invalid_request", f"missing {', '.join(missing)}")
        verifier = form["code_verifier"]
        if not _VERIFIER.match(verifier):
            raise DeviceError(
                "invalid_request",
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)",
            )
        with self._lock:
            entry = self._codes.pop(_digest(form["code"]), None)
        if entry is None:
            raise DeviceError(
                "invalid_grant", "unknown or already used authorization code; log in again"
            )
        if self._clock() >= entry.expires_at:
            raise DeviceError("invalid_grant", "the authorization code expired; log in again")
        if not hmac.compare_digest(entry.client_id, client_id):
            raise DeviceError(
                "invalid_grant", "the authorization code was issued to another client"
            )
        if not hmac.compare_digest(entry.redirect_uri, form["redirect_uri"]):
            raise DeviceError(
                "invalid_grant", "redirect_uri is not the one of the authorization request"
            )
        if not hmac.compare_digest(entry.challenge, s256(verifier)):
            raise DeviceError("invalid_grant", "code_verifier does not match the code_challenge")
        return entry.username


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def allow_form_target(page: Response, origin: str) -> Response:
    """Let ``page``'s form end at ``origin`` (a validated one): browsers hold a form's
    redirects to ``form-action`` too."""
    policy = page.headers["Content-Security-Policy"]
    page.headers["Content-Security-Policy"] = policy.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return page


def split_url(text: str, limit: int = 2000) -> SplitResult | None:
    """``text``'s parts when it can be a URL to send a browser to: at most ``limit``
    printable characters without spaces or backslashes, and a numeric port if any."""
    if len(text) > limit or not text.isprintable() or " " in text or "\\" in text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    return parts


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` is no loopback redirect of a native app (RFC 8252 7.3), or None."""
    if not uri:
        return "redirect_uri is missing"
    parts = split_url(uri, MAX_REDIRECT_URI)
    if parts is None:
        return (
            f"redirect_uri {uri[:100]!r} is not a valid URL (too long, spaces, control "
            "characters or a bad port)"
        )
    host = parts.hostname or ""
    if parts.scheme != "http" or "@" in parts.netloc or parts.fragment:
        return (
            f"redirect_uri {uri!r} must be a plain http URL without user name or fragment, "
            "e.g. http://127.0.0.1:8765/callback"
        )
    if host == "localhost" or host.endswith(".localhost"):
        return (
            f"redirect_uri {uri!r} names {host!r}: use the loopback address itself, "
            "http://127.0.0.1:<port>/... (RFC 8252 section 8.3)"
        )
    if host not in LOOPBACK_HOSTS:
        return (
            f"redirect_uri {uri!r} is not on this computer's loopback interface: rise "
            "redirects only to http://127.0.0.1:<port>/... or http://[::1]:<port>/..."
        )
    return None


def routes(ctx: ServerContext, codes: AuthorizationCodes, sessions: Sessions) -> list[BaseRoute]:
    if not ctx.config.auth.device.enabled:  # the login pages are off, and with them this
        return []
    render = renderer(ctx)

    async def authorize(request: Request) -> Response:
        fields = {name: request.query_params.get(name, "") for name in _REQUEST_FIELDS}
        refused = _check(render, fields, request.query_params.get("response_type", ""))
        if refused is not None:
            return refused
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None or session.username is None:
            sid, session = (None, session) if session is not None else sessions.new()
            return sign_in_form(render, sid, session, f"{AUTHORIZE_ENDPOINT}?{request.url.query}")
        cli = urlsplit(fields["redirect_uri"])
        page = render(
            "login_authorize.html",
            action=AUTHORIZE_ENDPOINT,
            csrf=session.csrf,
            username=session.username,
            fields=fields,
            port=cli.port or 80,
        )
        return allow_form_target(page, f"http://{cli.netloc}")

    async def decide(request: Request) -> Response:
        form = await read_form(request)
        fields = {name: form.get(name, "") for name in _REQUEST_FIELDS}
        refused = _check(render, fields, "code")
        if refused is not None:
            return refused
        session = sessions.get(request.cookies.get(COOKIE))
        if (
            session is None
            or session.username is None
            or not hmac.compare_digest(session.csrf, form.get("csrf", ""))
        ):
            return render(
                "login_done.html",
                403,
                heading="Session expired",
                message="This form is stale or came from another site; run 'rise login' again.",
            )
        if form.get("decision") != "approve":
            return _back(fields, error="access_denied", error_description="the login was denied")
        try:
            code = codes.issue(
                fields["client_id"],
                fields["redirect_uri"],
                fields["code_challenge"],
                session.username,
            )
        except Throttled as exc:
            return _back(fields, error="temporarily_unavailable", error_description=str(exc))
        request.state.user = session.username
        return _back(fields, code=code)

    return [
        Route(AUTHORIZE_ENDPOINT, authorize, methods=["GET"]),
        Route(AUTHORIZE_ENDPOINT, decide, methods=["POST"]),
    ]


def _check(render: Renderer, fields: dict[str, str], response_type: str) -> Response | None:
    """The refusal of an authorization request, or None when it is a valid one."""
    problem = None
    if fields["client_id"] not in CLIENT_IDS:
        problem = f"client_id {fields['client_id']!r} is unknown; rise serves only 'rise-cli'"
    problem = problem or redirect_uri_problem(fields["redirect_uri"])
    if problem is not None:
        # Never redirect to an address that failed validation (RFC 6749 section 4.1.2.1).
        return render(
            "login_done.html", 400, heading="This login link is not valid", message=problem
        )
    if response_type != "code":
        return _back(
            fields,
            error="unsupported_response_type",
            error_description="response_type must be 'code'",
        )
    method = fields["code_challenge_method"]
    if not fields["code_challenge"]:
        description = "code_challenge is required (PKCE, RFC 7636) with code_challenge_method=S256"
    elif method != "S256":
        description = f"code_challenge_method must be S256, not {method or 'plain'!r}"
    elif not _CHALLENGE.match(fields["code_challenge"]):
        description = "code_challenge must be the 43-character BASE64URL of a SHA-256"
    else:
        return None
    return _back(fields, error="invalid_request", error_description=description)


def _back(fields: dict[str, str], **answer: Any) -> Response:
    """Redirect to the client's validated ``redirect_uri`` with ``answer`` (and ``state``)."""
    if fields["state"]:
        answer["state"] = fields["state"]
    uri = fields["redirect_uri"]
    joiner = "&" if urlsplit(uri).query else "?"
    response = RedirectResponse(f"{uri}{joiner}{urlencode(answer)}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
