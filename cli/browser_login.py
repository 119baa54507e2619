"""``rise login --browser``: the authorization code grant with PKCE and a loopback callback.

The CLI listens on ``127.0.0.1`` on a port the system picks (RFC 8252 section 7.3), opens
the server's ``/oauth/authorize`` page in a browser (or prints it when none can be opened),
and waits for the browser to come back to ``/callback`` with a code. It accepts only the
answer carrying the ``state`` it sent (anything else on the port is told off and ignored),
exchanges the code with its PKCE verifier at ``/oauth/token``, and only then tells the
browser page whether the login worked, so that page never claims more than happened.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import queue
import secrets
import threading
import time
import webbrowser
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import click

from cli.client import Client
from cli.device_login import CLIENT_ID, described, has_browser
from cli.errors import EXIT_AUTH, CliError

CALLBACK_PATH = "/callback"
TIMEOUT_SECONDS = 300.0
_ANSWER_WAIT = 60.0  # how long the browser's page waits for the CLI's token exchange


def browser_login(
    client: Client,
    endpoint: str,
    environ: Mapping[str, str],
    *,
    open_browser: bool = True,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The token answer of a login approved in the browser; a CliError otherwise."""
    verifier = secrets.token_urlsafe(48)  # 64 characters, within RFC 7636's 43..128
    state = secrets.token_urlsafe(24)
    with _Listener(state) as listener:
        redirect_uri = f"http://127.0.0.1:{listener.port}{CALLBACK_PATH}"
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
            "state": state,
        }
        link = f"{client.url.rstrip('/')}{endpoint}?{urlencode(query)}"
        if open_browser and (environ.get("BROWSER") or has_browser(environ)) and _open(link):
            click.echo(f"Opened the login page in your browser; waiting for it. ({link})", err=True)
        else:
            click.echo(f"Open this link in a browser on this computer to log in:\n{link}", err=True)
        answer = listener.wait(timeout)
        if "error" in answer:
            text = answer.get("error_description") or answer["error"]
            listener.reply(False, f"The login failed: {text}")
            if answer["error"] == "access_denied":
                raise CliError(
                    "the login was denied on the login page",
                    hint="run 'rise login --browser' again and choose Approve",
                    exit_code=EXIT_AUTH,
                )
            raise CliError(f"the server refused the login: {text}", exit_code=EXIT_AUTH)
        exchange = {
            "grant_type": "authorization_code",
            "code": answer.get("code", ""),
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
        }
        response = client.form("/oauth/token", exchange)
        if response.status_code != 200:
            listener.reply(False, "The login failed; the terminal says why.")
            raise CliError(f"the login failed: {described(response)}", exit_code=EXIT_AUTH)
        listener.reply(True, "You are logged in. You can close this tab and use the terminal.")
        tokens: dict[str, Any] = response.json()
        return tokens


def _open(link: str) -> bool:
    try:
        return webbrowser.open(link)
    except webbrowser.Error:
        return False


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Listener:
    """The one-shot callback server: hands over the browser's answer, then shows the outcome."""

    def __init__(self, state: str):
        self._state = state
        self._answers: queue.Queue[dict[str, str]] = queue.Queue(maxsize=1)
        self._outcome: queue.Queue[tuple[bool, str]] = queue.Queue(maxsize=1)
        self._replied = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _Listener:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            self._replied.wait(5)  # let the browser's page get its answer before closing
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> dict[str, str]:
        """The callback's fields; Ctrl-C goes through (exit 130, as everywhere in rise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # short waits, so Ctrl-C is seen at once
                return self._answers.get(timeout=0.2)
            except queue.Empty:
                continue
        self._replied.set()
        raise CliError(
            f"no answer from the browser within {int(timeout)} s; nothing was stored",
            hint="run 'rise login --browser' again, or 'rise login' for the device flow",
            exit_code=EXIT_AUTH,
        )

    def reply(self, ok: bool, message: str) -> None:
        self._outcome.put((ok, message))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 30  # an idle (pre)connection from the browser never holds a thread

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fields = {k: v[0] for k, v in parse_qs(parts.query, max_num_fields=20).items()}
                if parts.path != CALLBACK_PATH:
                    self._page(404, "Not found", "This is rise login's callback; nothing here.")
                    return
                if not secrets.compare_digest(fields.get("state", ""), listener._state):
                    # Not the answer to our request (a stale tab, another site): ignore it.
                    text = "This answer is not for the rise login waiting in your terminal."
                    self._page(400, "Not this login", text)
                    return
                try:
                    listener._answers.put_nowait(fields)
                except queue.Full:
                    self._page(409, "Already answered", "This login has already been answered.")
                    return
                try:
                    ok, message = listener._outcome.get(timeout=_ANSWER_WAIT)
                except queue.Empty:
                    ok, message = False, "The terminal did not finish the login."
                self._page(200 if ok else 400, "Login complete" if ok else "Login failed", message)
                listener._replied.set()

            def _page(self, status: int, title: str, text: str) -> None:
                body = (
                    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                    f"<title>{html.escape(title)} · rise</title></head>"
                    "<body style='font-family:system-ui,sans-serif;max-width:30rem;"
                    "margin:4rem auto'>"
                    f"<main><h1>{html.escape(title)}</h1><p role='status'>{html.escape(text)}</p>"
                    "</main></body></html>\n"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")  # the URL held a code
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the terminal shows the login, not an access log (the URL holds a code)

        return Handler
