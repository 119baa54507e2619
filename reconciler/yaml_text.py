"""Objects as the YAML text rise prints (`rise render`, `rise diff`) and commits (the
``rendered`` branch): one writer for all three, so they cannot drift apart.

Block style, unicode kept as is, no line folding, through libyaml when PyYAML has it: the
pure-Python emitter single-quotes a value holding NEL (U+0085), which a reader then takes
for a line break, while libyaml writes it as ``"\\N"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def dump_yaml(objects: Iterable[Mapping[str, Any]], *, sort_keys: bool = False) -> str:
    """``objects`` as YAML documents, ``---`` between them."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(
        objects,
        Dumper=dumper,
        sort_keys=sort_keys,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
