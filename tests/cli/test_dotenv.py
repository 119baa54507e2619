"""The dotenv reader and writer of ``rise env import|export``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.dotenv import DotenvError, Entry, format_entries, parse, quote

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]))


@given(st.dictionaries(keys, st.tuples(values, st.booleans()), max_size=8))
def test_what_is_written_reads_back_unchanged(env: dict[str, tuple[str, bool]]):
    entries = [Entry(key, value, secret) for key, (value, secret) in env.items()]
    assert parse(format_entries(entries)) == entries


@given(st.text(max_size=200))
def test_any_text_parses_or_says_which_line(text: str):
    try:
        entries = parse(text)
    except DotenvError as exc:
        assert 1 <= exc.line <= text.count("\n") + text.count("\r") + 1
        assert str(exc).startswith(f"line {exc.line}: ")
    else:
        assert all(entry.key for entry in entries)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("A=plain", "plain"),
        ("A=  spaced out  ", "spaced out"),
        ("A=value # comment", "value"),
        ("A=value#hash", "value#hash"),
        ("export A=exported", "exported"),
        ("A = around", "around"),
        ("A='single $HOME \\n'", "single $HOME \\n"),
        ('A="double \\"q\\" \\n \\t \\\\"', 'double "q" \n \t \\'),
        ('A="keeps \\x unknown escapes"', "keeps \\x unknown escapes"),
        ("A='multi\nline'", "multi\nline"),
        ("A=", ""),
        ('A="" # empty', ""),
        ("A=${NOT_EXPANDED}", "${NOT_EXPANDED}"),
    ],
)
def test_quoting_rules(line: str, value: str):
    assert parse(line + "\n") == [Entry("A", value)]


def test_later_keys_win_comments_and_blank_lines_are_skipped():
    text = "# a comment\n\nA=1\r\n  # rise:secret\nB=2\nA=3\n"
    assert parse(text) == [Entry("A", "3"), Entry("B", "2", secret=True)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A=1\nB\n", "line 2: expected '=' after 'B': write KEY=value"),
        ("1A=x\n", "line 1: '1A' is not a variable name"),
        ("A='open\n\nB=2\n", "line 1: the value's ' quote is never closed"),
        ('A="x" trailing\n', "line 1: unexpected text after the quoted value of 'A'"),
    ],
)
def test_errors_name_the_line(text: str, message: str):
    with pytest.raises(DotenvError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)


def test_quote_chooses_the_plainest_safe_form():
    assert quote("abc-1.2:3/x@y") == "abc-1.2:3/x@y"
    assert quote("two words") == "'two words'"
    assert quote("it's") == '"it\'s"'
    assert quote("it's\nmulti") == '"it\'s\\nmulti"'
