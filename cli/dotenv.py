"""Read and write dotenv files (``KEY=value`` lines) for ``rise env import|export``.

The quoting rules are those common to dotenv tools (python-dotenv, docker compose):

- ``KEY=value``: the value is trimmed; `` #`` starts a comment; ``export KEY=value`` is fine.
- ``KEY='value'``: literal, may span lines; nothing is escaped.
- ``KEY="value"``: may span lines; ``\\n \\r \\t \\" \\\\`` are escapes.
- Blank lines and ``# comments`` are skipped; a later key overrides an earlier one.

``${VAR}`` is *not* expanded: a value is stored as written. A ``# rise:secret`` comment marks
the next key as a secret; ``rise env export --reveal`` writes it, so export then import keeps
secrets secret while other dotenv tools read the file as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECRET_MARK = "# rise:secret"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BARE = re.compile(r"[A-Za-z0-9_./:@+,%-]*\Z")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPED = {value: f"\\{key}" for key, value in _ESCAPES.items()}


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    secret: bool = False


class DotenvError(ValueError):
    """A line that is not ``KEY=value``; ``line`` counts from 1."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse(text: str) -> list[Entry]:
    """The entries of a dotenv file, in order, the last of each key kept."""
    return list({entry.key: entry for entry in _Reader(text).entries()}.values())


def format_entries(entries: list[Entry]) -> str:
    """A dotenv file that :func:`parse` (and other dotenv tools) read back unchanged."""
    lines = []
    for entry in entries:
        if entry.secret:
            lines.append(SECRET_MARK)
        lines.append(f"{entry.key}={quote(entry.value)}")
    return "".join(f"{line}\n" for line in lines)


def quote(value: str) -> str:
    """``value`` as dotenv writes it: bare when safe, else single quotes, else double."""
    if _BARE.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    return '"' + "".join(_ESCAPED.get(char, char) for char in value) + '"'


class _Reader:
    """A cursor over the text; tracks the line number for errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.line = 1

    def entries(self) -> list[Entry]:
        found = []
        secret = False
        while self.at < len(self.text):
            self._skip(" \t")
            if self._peek() in ("\n", "\r", ""):
                self._end_of_line()
                continue
            if self._peek() == "#":
                comment = self._rest_of_line()
                secret = secret or comment.strip() == SECRET_MARK
                continue
            found.append(self._entry(secret))
            secret = False
        return found

    def _entry(self, secret: bool) -> Entry:
        line = self.line
        key = self._key()
        self._skip(" \t")
        if self._peek() != "=":
            raise DotenvError(line, f"expected '=' after {key!r}: write KEY=value")
        self.at += 1
        self._skip(" \t")
        quote = self._peek()
        if quote == "'":
            value = self._quoted("'", escapes=False)
        elif quote == '"':
            value = self._quoted('"', escapes=True)
        else:
            return Entry(key, _unquoted(self._rest_of_line()), secret)
        self._skip(" \t")
        if self._peek() == "#":
            self._rest_of_line()
        elif self._peek() not in ("\n", "\r", ""):
            raise DotenvError(self.line, f"unexpected text after the quoted value of {key!r}")
        self._end_of_line()
        return Entry(key, value, secret)

    def _key(self) -> str:
        word = self._word()
        if word == "export":
            self._skip(" \t")
            if self._peek() not in ("=", ""):
                word = self._word()
        if not _KEY.match(word):
            shown = word or self._rest_of_line().strip()
            raise DotenvError(
                self.line,
                f"{shown!r} is not a variable name: names match [A-Za-z_][A-Za-z0-9_]*",
            )
        return word

    def _word(self) -> str:
        start = self.at
        while self._peek() not in (" ", "\t", "=", "\n", "\r", ""):
            self.at += 1
        return self.text[start : self.at]

    def _quoted(self, quote: str, *, escapes: bool) -> str:
        start_line = self.line
        self.at += 1
        chars: list[str] = []
        while True:
            char = self._peek()
            if char == "":
                raise DotenvError(start_line, f"the value's {quote} quote is never closed")
            self.at += 1
            if char == quote:
                return "".join(chars)
            if char == "\n":
                self.line += 1
            if escapes and char == "\\" and self._peek() in _ESCAPES:
                char = _ESCAPES[self._peek()]
                self.at += 1
            chars.append(char)

    def _rest_of_line(self) -> str:
        start = self.at
        while self._peek() not in ("\n", "\r", ""):
            self.at += 1
        rest = self.text[start : self.at]
        self._end_of_line()
        return rest

    def _end_of_line(self) -> None:
        if self.text.startswith("\r\n", self.at):
            self.at += 2
        elif self._peek() in ("\n", "\r"):
            self.at += 1
        else:
            return
        self.line += 1

    def _skip(self, chars: str) -> None:
        while self._peek() and self._peek() in chars:
            self.at += 1

    def _peek(self) -> str:
        return self.text[self.at : self.at + 1]


def _unquoted(raw: str) -> str:
    comment = re.search(r"[ \t]#", raw)
    return (raw[: comment.start()] if comment else raw).strip()
