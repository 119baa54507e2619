"""Objects as the YAML text rise prints (`rise render`, `rise diff`) and commits (the
``rendered`` branch): one writer for all three, so they cannot drift apart.

Block style, unicode kept as is, no line folding, through libyaml when PyYAML has it: the
pure-Python emitter single-quotes a value holding NEL (U+0085), which a reader then takes
for a line break, while libyaml writes it as ``"\\N"``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any


def dump_yaml(
    objects: Iterable[Mapping[str, Any]], *, sort_keys: bool = False, literal_blocks: bool = False
) -> str:
    """``objects`` as YAML documents, ``---`` between them; with ``literal_blocks``, strings of
    several lines as ``|`` blocks (a config file in a ConfigMap reads as itself)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    if literal_blocks:
        dumper = _literal_dumper(dumper)
    return yaml.dump_all(
        objects,
        Dumper=dumper,
        sort_keys=sort_keys,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )


@functools.cache
def _literal_dumper(base: type) -> type:
    def represent(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None  # the emitter falls back where | cannot hold it
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    literal = type("LiteralDumper", (base,), {})
    literal.add_representer(str, represent)  # type: ignore[attr-defined]
    return literal
