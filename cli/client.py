"""The one HTTP client the CLI uses to talk to the rise API.

It sends the profile's token, refreshes it silently with the refresh token when the server
says it expired (saving the new pair to the profile, never printing it), and turns every
error answer into a :class:`~cli.errors.CliError` carrying the server's message, hint and the
exit code for its status. Commands stay thin: call, then print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from cli.config import Connection
from cli.errors import EXIT_AUTH, EXIT_UNAVAILABLE, CliError, exit_code_for

API = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)

TokenSaver = Callable[[Mapping[str, Any]], None]


class Client:
    """Calls ``/api/v1`` on one server as one caller."""

    def __init__(
        self,
        connection: Connection,
        *,
        save_tokens: TokenSaver | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
    ) -> None:
        self.connection = connection
        self._token = connection.token
        # Never the stored refresh token when the command talks to another server or uses
        # RISE_TOKEN: it belongs to the profile's own login.
        self._refresh_token = (
            None
            if connection.token_from_env or not connection.token
            else connection.profile.refresh_token
        )
        self._save_tokens = save_tokens
        self._http = httpx.Client(
            base_url=connection.url,
            verify=connection.verify,
            timeout=httpx.Timeout(timeout) if timeout else TIMEOUT,
            transport=transport,
            headers={"user-agent": "rise-cli"},
        )

    @property
    def url(self) -> str:
        return self.connection.url

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json=body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one call to ``/api/v1{path}``; the decoded JSON answer, or a CliError."""
        response = self._send(method, f"{API}{path}", json, params, auth)
        if response.status_code == 401 and auth and self._refresh():
            response = self._send(method, f"{API}{path}", json, params, auth)
        return _decoded(response)

    def public(self, method: str, path: str, *, json: Any = None) -> Any:
        """A call that needs no login (``/version``, ``/api/v1/auth/...``)."""
        return _decoded(self._send(method, path, json, None, auth=False))

    def form(self, path: str, fields: Mapping[str, str]) -> httpx.Response:
        """POST a form to an OAuth endpoint (``/oauth/...``, no login); the raw answer, as
        OAuth errors (``authorization_pending``...) are answers the caller acts on."""
        return self._send("POST", path, None, None, auth=False, form=fields)

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        auth: bool,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {}
        if auth:
            if not self._token:
                raise CliError(
                    f"you are not logged in to {self.url}",
                    hint=f"run 'rise login {self.url}', or set RISE_TOKEN",
                    exit_code=EXIT_AUTH,
                )
            headers["authorization"] = f"Bearer {self._token}"
        try:
            return self._http.request(
                method, path, json=json, params=params, headers=headers, data=form
            )
        except httpx.TransportError as exc:
            untrusted = "CERTIFICATE_VERIFY_FAILED" in str(exc)
            raise CliError(
                f"cannot reach the rise server at {self.url}: {_reason(exc)}",
                hint=(
                    "if it uses a private CA, give its certificates with --ca-bundle FILE "
                    "(rise login, rise profile add)"
                    if untrusted
                    else "check the URL ('rise profile ls') and that the server is running"
                ),
                exit_code=EXIT_UNAVAILABLE,
            ) from None

    def _refresh(self) -> bool:
        """Trade the stored refresh token for new tokens; False when there is none."""
        if not self._refresh_token:
            return False
        response = self._send(
            "POST", f"{API}/auth/refresh", {"refresh_token": self._refresh_token}, None, auth=False
        )
        if response.status_code != 200:
            return False
        tokens = response.json()
        self._token = tokens["access_token"]
        self._refresh_token = tokens.get("refresh_token", self._refresh_token)
        if self._save_tokens is not None:
            self._save_tokens(tokens)
        return True


def _decoded(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    raise _error(response)


def _error(response: httpx.Response) -> CliError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "message" not in body:
        text = response.text.strip()[:200] or response.reason_phrase
        return CliError(
            f"the server answered {response.status_code}: {text}",
            exit_code=exit_code_for(response.status_code),
        )
    hint = body.get("hint")
    if response.status_code == 401 and not hint:
        hint = "run 'rise login' again"
    return CliError(
        str(body["message"]),
        hint=hint,
        exit_code=exit_code_for(response.status_code),
        problems=[str(p) for p in body.get("problems") or []],
    )


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else str(exc) or "no answer"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    return str(exc) or type(exc).__name__
