"""The parsers ``rise d c`` runs on its input before anything reaches the server: ``-e
KEY=VALUE``, the merge into the app config, and finding ``.rise.toml``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.appconfig import find_app_folder, parse_env_pairs, with_env
from cli.errors import EXIT_USAGE, CliError

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
VALUES = st.text(st.characters(exclude_characters="\x00"), max_size=40)


@given(st.lists(st.tuples(KEYS, VALUES), max_size=8))
def test_every_key_value_pair_parses_and_the_last_one_wins(pairs: list[tuple[str, str]]) -> None:
    parsed = parse_env_pairs([f"{key}={value}" for key, value in pairs])
    assert parsed == dict(pairs)


@given(
    st.text(max_size=30).filter(lambda t: "=" not in t)
    | st.from_regex(r"[0-9 -][^=]*=.*", fullmatch=True)
)
def test_anything_else_is_a_usage_error_naming_it(text: str) -> None:
    with pytest.raises(CliError) as raised:
        parse_env_pairs([text])
    assert raised.value.exit_code == EXIT_USAGE
    assert repr(text) in raised.value.message


@given(
    st.dictionaries(KEYS, VALUES, max_size=4),
    st.dictionaries(KEYS, VALUES, max_size=4),
    st.dictionaries(KEYS, VALUES, max_size=4),
)
def test_flags_win_over_the_file_and_the_selected_environment(
    base: dict[str, str], staging: dict[str, str], flags: dict[str, str]
) -> None:
    raw = {"project": "web", "env": base, "environments": {"staging": {"env": staging}}}
    merged = with_env(raw, flags, "staging")
    assert merged["env"] == ({**base, **flags} if flags else base)
    chosen = merged["environments"]["staging"]["env"]
    assert chosen == ({**staging, **flags} if flags else staging)
    assert raw["env"] == base  # the file's table is left as it was


def test_an_environment_the_file_does_not_define_is_not_invented() -> None:
    merged = with_env({"project": "web"}, {"A": "1"}, "prod")
    assert merged == {"project": "web", "env": {"A": "1"}}


def test_rise_toml_is_found_upwards_until_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".rise.toml").write_text('project = "outer"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app" / "src").mkdir(parents=True)
    assert find_app_folder(repo / "app" / "src") is None  # the repo root stops the walk
    (repo / "app" / ".rise.toml").write_text('project = "web"\n[env]\nA = "1"\n')
    found = find_app_folder(repo / "app" / "src")
    assert found is not None
    assert (found.root, found.config.project, found.raw["env"]) == (repo / "app", "web", {"A": "1"})


def test_an_invalid_rise_toml_names_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".rise.toml").write_text('project = "web"\n[deploy]\nreplica = 2\n')
    with pytest.raises(CliError) as raised:
        find_app_folder(tmp_path)
    assert str(tmp_path / ".rise.toml") in raised.value.message
    assert any("replica" in problem and "replicas" in problem for problem in raised.value.problems)
