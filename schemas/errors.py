"""Turn TOML and pydantic failures into problems a person can act on.

A problem names the file, the key path and what to do, with a close match for a mistyped key
or value: ``unknown key 'replica' in [deploy] — did you mean 'replicas'?``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import rtoml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file."""

    file: str
    message: str
    loc: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


class SchemaError(ValueError):
    """A file or payload failed validation; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a mistyped ``word``, if any is close enough."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    match = suggest(word, candidates)
    return f" — did you mean {match!r}?" if match else ""


def load_toml(data: str | bytes, model: type[M], file: str = "") -> M:
    """Parse TOML text and validate it against ``model``; raise SchemaError on any problem."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return parse_model(parse_toml(text, file), model, file)


def parse_toml(text: str, file: str = "") -> dict[str, Any]:
    """Parse TOML with rtoml (ten times faster, which a 10,000-project snapshot needs).

    On a parse error the standard library's parser, the reference, gives the message.
    """
    try:
        return rtoml.loads(text)
    except rtoml.TomlParsingError:
        pass
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError([Problem(file, f"malformed TOML: {exc}")]) from None


def parse_model(raw: Any, model: type[M], file: str = "") -> M:
    """Validate already-parsed data against ``model``; raise SchemaError on any problem."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SchemaError(problems_from(exc, model, file)) from None


def problems_from(exc: ValidationError, model: type[BaseModel], file: str = "") -> list[Problem]:
    problems = [_problem(err, model, file) for err in exc.errors()]
    # A union reports one error per branch; one message per key path is enough.
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for p in problems:
        if p.loc not in seen:
            seen.add(p.loc)
            unique.append(p)
    return unique


def _problem(err: Any, model: type[BaseModel], file: str) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        hint = did_you_mean(key, _fields_at(model, loc[:-1]))
        return Problem(file, f"unknown key {key!r} {_where(loc[:-1])}{hint}", loc)
    if kind == "missing" and loc:
        return Problem(file, f"missing required key {loc[-1]!r} {_where(loc[:-1])}", loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        value = err.get("input")
        hint = did_you_mean(str(value), expected) if isinstance(value, str) else ""
        message = f"{value!r} is not one of {', '.join(map(repr, expected))}{hint}"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message} (got {_short(err.get('input'))})"
    if not loc:
        return Problem(file, message, loc)
    return Problem(file, f"{_key(loc)}: {message}", loc)


def _where(loc: tuple[str | int, ...]) -> str:
    return f"in [{_dotted(loc)}]" if loc else "at the top level"


def _key(loc: tuple[str | int, ...]) -> str:
    if len(loc) == 1:
        return f"key {loc[0]!r}"
    return f"key {loc[-1]!r} in [{_dotted(loc[:-1])}]"


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys a model accepts at ``loc``, following nested models, dicts and lists."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    models = [m for m in _candidates(current) if isinstance(m, type) and issubclass(m, BaseModel)]
    names: list[str] = []
    for m in models:
        for name, field in m.model_fields.items():
            names.append(field.alias or name)
    return names


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is None:
                field = next((f for f in candidate.model_fields.values() if f.alias == part), None)
            if field is not None:
                return field.annotation
        origin = typing.get_origin(candidate)
        if origin in (dict, list, tuple) or origin is typing.Union:
            args = typing.get_args(candidate)
            if args:
                return args[-1] if origin is dict else args[0]
    return None


def _candidates(annotation: Any) -> list[Any]:
    """Unwrap Optional/Union/Annotated into the types it may stand for."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_candidates(arg))
        return out
    return [annotation]
