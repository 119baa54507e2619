"""``/api/v1/teams``: teams own projects; their owners manage them, members deploy.

A team is visible only to its owners, members and admins; to anyone else it does not exist
(404), like a private project.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from reconciler.server.api._access import head_reader, read_teams
from reconciler.server.api._http import blocking, caller, path_name, read_body, respond, snapshot
from reconciler.server.authz import Principal, may_manage_team, may_see_team
from reconciler.server.context import ServerContext
from reconciler.server.errors import ApiError, from_schema_error, not_found
from reconciler.server.openapi import ApiRoute, Operation
from reconciler.server.store import write_model
from reconciler.state import Edit
from reconciler.state.layout import PROJECTS, project_file, team_file
from schemas import ProjectFile, SchemaError, TeamFile, load_toml, parse_model
from schemas.api import Deleted, TeamCreate, TeamInfo, TeamUpdate
from schemas.errors import suggest
from schemas.names import name_problem

_TAG = "teams"
_TEAMS_HINT = "check the name with 'rise team list'"


def routes(ctx: ServerContext) -> list[BaseRoute]:
    async def list_teams(request: Request) -> Response:
        principal = await caller(request, ctx)
        snap = await snapshot(ctx)
        rows = [
            _info(name, team)
            for name, team in sorted(snap.teams.items())
            if may_see_team(principal, team)
        ]
        return respond(rows)

    async def create_team(request: Request) -> Response:
        principal = await caller(request, ctx)
        body = await read_body(request, TeamCreate)
        owners = _unique(body.owners or [principal.username])
        if not principal.is_admin and principal.username not in owners:
            raise ApiError(
                400,
                "not_an_owner",
                f"you would not be an owner of team {body.name!r} you create",
                "leave 'owners' empty to own it yourself, or include your name in it",
            )
        team = _team(owners, _unique(body.members))
        _check_known(ctx, principal, [*team.owners, *team.members])

        def change(edit: Edit) -> str:
            if edit.read(team_file(body.name)) is not None:
                raise ApiError(
                    409, "already_exists", f"team {body.name!r} already exists", _TEAMS_HINT
                )
            write_model(edit, team_file(body.name), team)
            return f"create team {body.name} (owners: {', '.join(team.owners)})"

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(_info(body.name, team, result.commit), 201)

    async def show_team(request: Request) -> Response:
        name = path_name(request, "team", "team name")
        principal = await caller(request, ctx)
        team = await blocking(_team_at_head, ctx, name)
        if team is None or not may_see_team(principal, team):
            raise _team_not_found(name)
        return respond(_info(name, team))

    async def update_team(request: Request) -> Response:
        name = path_name(request, "team", "team name")
        principal = await caller(request, ctx)
        body = await read_body(request, TeamUpdate)
        written: list[TeamFile] = []

        def change(edit: Edit) -> str | None:
            written.clear()
            current = _managed_team(edit, principal, name)
            new = _updated(current, body)
            _check_known(
                ctx, principal, [n for n in (*new.owners, *new.members) if not current.includes(n)]
            )
            written.append(new)
            if new == current:
                return None
            write_model(edit, team_file(name), new)
            return f"update team {name} (owners: {', '.join(new.owners)}; members: " + (
                f"{', '.join(new.members) or 'none'})"
            )

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(_info(name, written[-1], result.commit))

    async def delete_team(request: Request) -> Response:
        name = path_name(request, "team", "team name")
        principal = await caller(request, ctx)

        def change(edit: Edit) -> str:
            _managed_team(edit, principal, name)
            owned = _projects_owned_by(edit, f"team:{name}")
            if owned:
                raise ApiError(
                    409,
                    "team_in_use",
                    f"team {name!r} owns projects: {', '.join(owned)}",
                    "give those projects another owner (rise project update) or delete them",
                )
            edit.delete(team_file(name))
            return f"delete team {name}"

        result = await blocking(ctx.store.commit, change, principal.username)
        return respond(Deleted(name=name, commit=result.commit))

    item = "/api/v1/teams/{team}"
    return [
        ApiRoute(
            "/api/v1/teams",
            list_teams,
            "GET",
            Operation("List the teams you belong to", response=TeamInfo, many=True, tag=_TAG),
        ),
        ApiRoute(
            "/api/v1/teams",
            create_team,
            "POST",
            Operation(
                "Create a team",
                body=TeamCreate,
                response=TeamInfo,
                status=201,
                errors=(409,),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            item,
            show_team,
            "GET",
            Operation("Show a team", response=TeamInfo, errors=(404,), tag=_TAG),
        ),
        ApiRoute(
            item,
            update_team,
            "PATCH",
            Operation(
                "Change a team's owners and members",
                body=TeamUpdate,
                response=TeamInfo,
                errors=(403, 404),
                tag=_TAG,
            ),
        ),
        ApiRoute(
            item,
            delete_team,
            "DELETE",
            Operation(
                "Delete a team that owns no project",
                response=Deleted,
                errors=(403, 404, 409),
                tag=_TAG,
            ),
        ),
    ]


def _check_known(ctx: ServerContext, principal: Principal, names: Iterable[str]) -> None:
    """Refuse names that are no user: a typo must not grant rights to whoever takes it later."""
    known = {user.username for user in ctx.users.list()} | set(ctx.config.auth.admins)
    unknown = [name for name in _unique(names) if name not in known]
    if not unknown:
        return
    # Suggestions come only from names the caller already knows: themselves and their teams.
    match = suggest(unknown[0], {principal.username, *_teammates(ctx, principal)} & known)
    raise ApiError(
        400,
        "unknown_user",
        f"{', '.join(repr(n) for n in unknown)} {'is' if len(unknown) == 1 else 'are'} not "
        f"a user of this server{f'; did you mean {match!r}?' if match else ''}",
        "team owners and members must be existing users; an admin creates users with "
        "'rise user create'",
    )


def _teammates(ctx: ServerContext, principal: Principal) -> set[str]:
    names: set[str] = set()
    for team in ctx.store.snapshot().teams.values():
        if team.includes(principal.username):
            names.update(team.owners, team.members)
    return names


def _team_at_head(ctx: ServerContext, name: str) -> TeamFile | None:
    return read_teams(head_reader(ctx.store))(name)


def _managed_team(edit: Edit, principal: Principal, name: str) -> TeamFile:
    team = read_teams(edit.read)(name)
    if team is None or not may_see_team(principal, team):
        raise _team_not_found(name)
    if not may_manage_team(principal, team):
        raise ApiError(
            403,
            "forbidden",
            f"only owners of team {name!r} may change it",
            f"ask one of its owners: {', '.join(team.owners)}",
        )
    return team


def _updated(team: TeamFile, body: TeamUpdate) -> TeamFile:
    owners = list(body.owners) if body.owners is not None else list(team.owners)
    members = list(body.members) if body.members is not None else list(team.members)
    owners = [o for o in _unique([*owners, *body.add_owners]) if o not in body.remove_owners]
    members = [m for m in _unique([*members, *body.add_members]) if m not in body.remove_members]
    if not owners:
        raise ApiError(
            409,
            "last_owner",
            "this change would leave the team without an owner",
            "add another owner first (add_owners), then remove this one",
        )
    return _team(owners, members)


def _team(owners: list[str], members: list[str]) -> TeamFile:
    try:
        return parse_model({"owners": owners, "members": members}, TeamFile, "team")
    except SchemaError as exc:
        raise from_schema_error(exc, "a team needs at least one owner") from None


def _projects_owned_by(edit: Edit, owner: str) -> list[str]:
    owned = []
    for name in edit.list(PROJECTS):
        if name_problem(name) is not None:
            continue  # not a project rise could read; `rise state validate` reports it
        data = edit.read(project_file(name, "project.toml"))
        try:
            if data is not None and load_toml(data, ProjectFile).owner == owner:
                owned.append(name)
        except SchemaError:
            continue
    return owned


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _info(name: str, team: TeamFile, commit: str | None = None) -> TeamInfo:
    return TeamInfo(name=name, owners=team.owners, members=team.members, commit=commit)


def _team_not_found(name: str) -> ApiError:
    return not_found("team", name, _TEAMS_HINT)
