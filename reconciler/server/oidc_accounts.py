"""A provider's sign-in becomes a rise user, and its groups become team memberships.

Namespacing: the rise name of a provider's user is ``<provider>-<username claim>`` made a
valid name (``corp`` + ``Alice.Smith`` -> ``corp-alice-smith``), stored in the user store
keyed by (issuer, subject) and without a password. So a provider's ``admin`` is
``corp-admin``, never the local ``admin``; nobody can give a provider's user a password or
sign in as one with a password; and a provider identity is only ever found by its own
(issuer, subject), never by name. Local users whose names start with a provider's prefix
cannot be created while that provider is configured.

Group sync (``group_teams``): on every sign-in through the provider, the user becomes a
member of each mapped team whose group they have, and stops being a member of each mapped
team whose group they no longer have. Teams not in the mapping are never touched, owners are
never removed, and a mapped team that does not exist is skipped (logged): create it first.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from reconciler.server.api._access import read_teams
from reconciler.server.oidc import Identity
from reconciler.server.store import Store, write_model
from reconciler.server.users import User, UserStore
from reconciler.state import Edit
from reconciler.state.layout import team_file
from schemas import TeamFile
from schemas.names import MAX_NAME_LENGTH

log = logging.getLogger("rise.oidc")

_NOT_NAME = re.compile(r"[^a-z0-9]+")


def rise_username(provider: str, claimed: str) -> str:
    """The rise name of a provider's user: ``<provider>-<claim>`` as an RFC 1123 label."""
    ascii_only = unicodedata.normalize("NFKD", claimed).encode("ascii", "ignore").decode()
    local = _NOT_NAME.sub("-", ascii_only.lower()).strip("-") or "user"
    room = MAX_NAME_LENGTH - len(provider) - 1 - 3  # keep room for a '-NN' suffix
    return f"{provider}-{local[:room].rstrip('-')}"


def reserved_by(providers: Iterable[str], username: str) -> str | None:
    """The provider whose prefix ``username`` starts with, if any (no such local user)."""
    return next((p for p in providers if username.startswith(f"{p}-")), None)


def sign_in(users: UserStore, identity: Identity) -> User:
    return users.external(
        provider=identity.provider,
        issuer=identity.issuer,
        subject=identity.subject,
        username=rise_username(identity.provider, identity.username),
        email=identity.email,
    )


def sync_teams(
    store: Store, username: str, groups: Iterable[str], group_teams: dict[str, str]
) -> list[str]:
    """Make ``username``'s membership of every mapped team follow ``groups``; the teams
    whose membership changed (one commit for all, authored by the user)."""
    if not group_teams:
        return []
    have = set(groups)
    wanted = {team: False for team in group_teams.values()}
    for group, team in group_teams.items():
        wanted[team] = wanted[team] or group in have
    changed: list[str] = []

    def change(edit: Edit) -> str | None:
        changed.clear()
        teams = read_teams(edit.read)
        for name, member in sorted(wanted.items()):
            team = teams(name)
            if team is None:
                log.warning("[auth.oidc] group_teams names team %r, which does not exist", name)
                continue
            new = _with_membership(team, username, member)
            if new != team:
                write_model(edit, team_file(name), new)
                changed.append(name)
        if not changed:
            return None
        return f"sync team membership of {username} from provider groups ({', '.join(changed)})"

    store.commit(change, username)
    return changed


def _with_membership(team: TeamFile, username: str, member: bool) -> TeamFile:
    if username in team.owners:
        return team  # owners were made by people, never by group sync
    members = [m for m in team.members if m != username]
    if member:
        members.append(username)
    if members == list(team.members):
        return team
    return team.model_copy(update={"members": members})
