"""What every forge client does: find rise's comment by its marker, create or update it."""

from __future__ import annotations

from typing import Any, Literal

import httpx

MARKER = "<!-- rise:state-review -->"
"""The first line of rise's comment: how the next push finds it to update it in place."""
STATUS_CONTEXT = "rise/state"
StatusState = Literal["pending", "success", "failure"]
_PAGES = 50
_PER_PAGE = 100


class ForgeError(RuntimeError):
    """The forge refused or failed a request; the message says which and what it answered."""


class ForgeClient:
    """One repository on one forge. Subclasses name the URLs; this class does the rest."""

    kind = "forge"

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
    ):
        self.repository = repository
        self.http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers=self.auth_headers(token),
            timeout=30,
            transport=transport,
        )

    # -- what a forge names ------------------------------------------------------------------

    def auth_headers(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    def comments_path(self, number: int) -> str:
        raise NotImplementedError

    def comment_path(self, number: int, comment_id: int) -> str:
        raise NotImplementedError

    def update_method(self) -> str:
        return "PATCH"

    def status_path(self, sha: str) -> str:
        raise NotImplementedError

    def status_fields(self, state: StatusState) -> dict[str, Any]:
        """The forge's words for the state and for rise's status context."""
        raise NotImplementedError

    def pull_ref(self, number: int) -> str:
        """Where the forge keeps a pull request's head (forks' too)."""
        raise NotImplementedError

    # -- what rise does ----------------------------------------------------------------------

    def upsert_comment(self, number: int, body: str) -> int:
        """Update rise's comment on pull request ``number``, or create it; its id."""
        text = f"{MARKER}\n{body}"
        found = self._find_comment(number)
        if found is None:
            created = self._send("POST", self.comments_path(number), {"body": text})
            return int(created["id"])
        self._send(self.update_method(), self.comment_path(number, found), {"body": text})
        return found

    def set_status(
        self, sha: str, state: StatusState, description: str, url: str | None = None
    ) -> None:
        body = {**self.status_fields(state), "description": description[:140]}
        if url:
            body["target_url"] = url
        self._send("POST", self.status_path(sha), body)

    def close(self) -> None:
        self.http.close()

    def _find_comment(self, number: int) -> int | None:
        for page in range(1, _PAGES + 1):
            params = {"page": page, self.page_size_param(): _PER_PAGE}
            items = self._send("GET", self.comments_path(number), params=params)
            if not isinstance(items, list):
                raise ForgeError(f"{self.kind}: listing comments answered {items!r}")
            for item in items:
                if str(item.get("body", "")).startswith(MARKER):
                    return int(item["id"])
            if len(items) < _PER_PAGE:
                return None
        return None

    def page_size_param(self) -> str:
        return "per_page"

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = self.http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise ForgeError(f"{self.kind}: {method} {path} failed: {exc}") from None
        if response.status_code >= 400:
            raise ForgeError(
                f"{self.kind}: {method} {path} answered {response.status_code}: "
                f"{response.text[:300]}; check [forge] repository and the token's scopes"
            )
        return response.json() if response.content else None
