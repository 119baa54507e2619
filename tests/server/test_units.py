"""The dense parts on their own: config merging, ids, tokens and lockout with a set clock,
authorization rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey

from reconciler.ids import DeploymentIds
from reconciler.server.authz import Access, Principal, project_access
from reconciler.server.config import env_warnings, load_config
from reconciler.server.store import dump_toml
from reconciler.server.tokens import TokenError, TokenService
from reconciler.server.users import LockedOut, UserStore, check_password, hash_password
from schemas import EnvFile, ProjectFile, SchemaError, TeamFile, load_toml


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 15, 30, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- configuration ---------------------------------------------------------------------------


def test_flags_beat_variables_beat_the_file(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text('port = 7000\nhost = "0.0.0.0"\n[auth]\nadmins = ["root"]\n')
    env = {"RISE_PORT": "7100", "RISE_AUTH__ADMINS": "ann, bob", "RISE_URL": "ignored"}
    config = load_config(file, env, {"port": 7200, "data_dir": None})
    assert (config.port, config.host, config.auth.admins) == (7200, "0.0.0.0", ["ann", "bob"])
    assert load_config(file, env).port == 7100
    assert load_config(file, {"RISE_AUTH__ADMINS": '["x"]'}).auth.admins == ["x"]
    assert load_config(None, {"RISE_WEBHOOKS__ALLOW_UNSIGNED": "true"}).webhooks.allow_unsigned


def test_bad_values_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(SchemaError) as env_error:
        load_config(None, {"RISE_PORT": "eighty"})
    assert str(env_error.value).startswith("environment variable RISE_PORT: 'eighty'")
    file = tmp_path / "server.toml"
    file.write_text("[runtime]\nkind = 'kubernets'\n")
    with pytest.raises(SchemaError) as file_error:
        load_config(file)
    assert f"{file}: key 'kind' in [runtime]" in str(file_error.value)
    assert "did you mean 'kubernetes'" in str(file_error.value)
    assert env_warnings({"RISE_PROT": "1", "RISE_TOKEN": "t"}) == [
        "ignoring environment variable RISE_PROT: did you mean RISE_PORT?"
    ]


# -- deployment ids --------------------------------------------------------------------------


def test_ids_are_unique_within_one_second_and_carry_the_time() -> None:
    clock = Clock()
    ids = DeploymentIds(clock)
    issued = [ids.new() for _ in range(5000)]  # more than fit in four hex digits' comfort
    assert len(set(issued)) == len(issued)
    assert all(re.fullmatch(r"20261122-153012-[0-9a-f]{4,8}", i) for i in issued)
    assert any(len(i) > len("20261122-153012-abcd") for i in issued)  # crowded: longer ids
    clock.advance(1)
    assert ids.new().startswith("20261122-153013-")


# -- tokens ----------------------------------------------------------------------------------


def test_tokens_expire_on_the_injected_clock(tmp_path: Path) -> None:
    clock = Clock()
    service = TokenService.from_directory(
        tmp_path / "keys", issuer="rise", access_ttl=60, refresh_ttl=3600, clock=clock
    )
    pair = service.issue("niklas", password_version=3)
    assert service.verify_access(pair.access_token).subject == "niklas"
    assert service.verify_refresh(pair.refresh_token).password_version == 3
    clock.advance(60 + 29)  # within the leeway
    service.verify_access(pair.access_token)
    clock.advance(2)
    with pytest.raises(TokenError, match="expired"):
        service.verify_access(pair.access_token)
    service.verify_refresh(pair.refresh_token)


def test_a_second_key_verifies_old_tokens_and_signs_new_ones(tmp_path: Path) -> None:
    clock = Clock()
    first = TokenService.from_directory(
        tmp_path, issuer="rise", access_ttl=60, refresh_ttl=60, clock=clock
    )
    old = first.issue("a").access_token
    newer = ECKey.generate_key("P-256").as_pem(private=True)
    (tmp_path / "jwt-99999999T999999.pem").write_bytes(newer)
    rotated = TokenService.from_directory(
        tmp_path, issuer="rise", access_ttl=60, refresh_ttl=60, clock=clock
    )
    assert rotated.verify_access(old).subject == "a"
    new = rotated.issue("b").access_token
    assert len(rotated.jwks()["keys"]) == 2
    with pytest.raises(TokenError, match="does not know"):
        first.verify_access(new)


# -- users -----------------------------------------------------------------------------------


def test_lockout_ends_after_its_time_and_a_success_resets_the_count(tmp_path: Path) -> None:
    clock = Clock()
    users = UserStore(tmp_path / "users.json", lockout_after=3, lockout_seconds=60, clock=clock)
    users.create("ann", "right-password")
    assert users.verify("ann", "wrong-1") is None
    assert users.verify("ann", "right-password") is not None  # resets the count
    for _ in range(3):
        assert users.verify("ann", "wrong") is None
    with pytest.raises(LockedOut) as locked:
        users.verify("ann", "right-password")
    assert locked.value.retry_after == 61
    clock.advance(61)
    assert users.verify("ann", "right-password").username == "ann"
    reopened = UserStore(tmp_path / "users.json", clock=clock)
    assert reopened.verify("ann", "right-password") is not None


@settings(max_examples=8, deadline=None)  # scrypt is slow on purpose
@given(st.text(min_size=1, max_size=40))
def test_a_hash_accepts_its_password_and_nothing_else(password: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in password):
        assert not check_password(password, hash_password("x"))
        return  # not UTF-8: the API refuses such a password before it is hashed
    stored = hash_password(password)
    assert stored.startswith("scrypt$16384$8$1$")
    assert check_password(password, stored)
    assert not check_password(password + "x", stored)
    assert not check_password(password, stored.replace("scrypt", "plain"))


# -- authorization ---------------------------------------------------------------------------

_names = st.sampled_from(["ann", "bob", "cid", "dee"])


@given(
    caller=_names,
    admin=st.booleans(),
    owner_kind=st.sampled_from(["user", "team"]),
    owner_user=_names,
    members=st.lists(_names, max_size=3),
    visibility=st.sampled_from(["public", "private"]),
)
def test_access_follows_ownership_visibility_and_admin(
    caller: str,
    admin: bool,
    owner_kind: str,
    owner_user: str,
    members: list[str],
    visibility: str,
) -> None:
    team = TeamFile(owners=["dee"], members=members)
    owner = f"user:{owner_user}" if owner_kind == "user" else "team:squad"
    project = ProjectFile(owner=owner, visibility=visibility)  # type: ignore[arg-type]
    access = project_access(Principal(caller, admin), project, {"squad": team}.get)
    owns = (owner_kind == "user" and caller == owner_user) or (
        owner_kind == "team" and team.includes(caller)
    )
    if admin or owns:
        assert access == Access.CHANGE
    elif visibility == "public":
        assert access == Access.READ
    else:
        assert access == Access.NONE


# -- what the server writes into the state repo ----------------------------------------------


@settings(max_examples=100)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
        max_size=5,
    )
)
def test_any_env_value_survives_the_round_trip_through_toml(values: dict[str, str]) -> None:
    written = dump_toml(EnvFile(vars=values).model_dump(exclude_none=True))
    assert load_toml(written, EnvFile).vars == values
