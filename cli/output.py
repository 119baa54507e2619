"""How the CLI prints: tables, ``-o json|yaml``, colour, and a spinner for long steps.

One place for every output convention. ``json`` and ``yaml`` print the API's own model (what
the server answered), so scripts can rely on it; ``table`` is for people. Colour only on a
terminal and never with ``NO_COLOR``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

import click

FORMATS = ("table", "json", "yaml")
COLUMN_GAP = 4

F = TypeVar("F", bound=Callable[..., Any])

_STATUS_COLOURS = {
    "running": "green",
    "deploying": "yellow",
    "pending": "yellow",
    "failed": "red",
    "invalid": "red",
    "stopped": "bright_black",
}


def output_option(command: F) -> F:
    """The ``-o/--output`` option every list and show command takes."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; json or yaml (the API's model) for scripts.",
    )(command)


def colour_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if "NO_COLOR" in os.environ:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def style(text: str, *, fg: str | None = None, bold: bool = False, err: bool = False) -> str:
    """``text`` styled when the stream it goes to is a colour terminal."""
    if not colour_enabled(sys.stderr if err else sys.stdout):
        return text
    return click.style(text, fg=fg, bold=bold)


def status_text(status: str) -> str:
    return style(status, fg=_STATUS_COLOURS.get(status))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned to their widest cell, as in the transcript (colour-safe)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max([len(click.unstyle(header))] + [len(click.unstyle(row[i])) for row in cells])
        for i, header in enumerate(headers)
    ]
    lines = []
    for row in [list(headers), *cells]:
        padded = [
            value + " " * (widths[i] - len(click.unstyle(value)) + COLUMN_GAP)
            for i, value in enumerate(row[:-1])
        ]
        lines.append(("".join(padded) + row[-1]).rstrip())
    return "\n".join(lines)


def emit(
    data: Any,
    output: str,
    render_table: Callable[[Any], str],
) -> None:
    """Print ``data`` (the API's answer) as ``output`` asks."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif output == "yaml":
        from reconciler.yaml_text import dump_yaml

        click.echo(dump_yaml([data]), nl=False)
    else:
        click.echo(render_table(data))


def detail(pairs: Sequence[tuple[str, Any]]) -> str:
    """A ``show`` view: ``key: value`` lines with the keys aligned, empty values left out."""
    shown = [(key, _cell(value)) for key, value in pairs if value not in (None, "", [])]
    width = max((len(key) for key, _ in shown), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in shown)


def progress(message: str) -> None:
    """A line about what is happening now, on stderr so stdout stays parseable."""
    click.echo(message, err=True)


@contextmanager
def spinner(message: str, *, stream: TextIO | None = None) -> Iterator[None]:
    """Show ``message`` with a spinner and the elapsed time while the block runs.

    On a terminal the line redraws in place; elsewhere (CI logs, pipes) nothing extra is
    printed, so logs stay one line per step.
    """
    stream = stream or sys.stderr
    if not _is_tty(stream):
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        frames = "|/-\\"
        tick = 0
        while not done.wait(0.1):
            elapsed = time.monotonic() - started
            stream.write(f"\r{frames[tick % 4]} {message} {elapsed:4.0f}s")
            stream.flush()
            tick += 1

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()
        stream.write("\r\x1b[2K")
        stream.flush()


@contextmanager
def step(message: str, *, stream: TextIO | None = None) -> Iterator[None]:
    """One long step of a command, announced by ``message`` on stderr.

    On a terminal the line spins with the elapsed time while the block runs and then stays
    as written; elsewhere (CI logs, pipes) it is printed once, before the work starts. When
    the block fails the line is still printed, so the error that follows says which step.
    """
    stream = stream or sys.stderr
    if not _is_tty(stream):
        click.echo(message, file=stream)
        yield
        return
    try:
        with spinner(message, stream=stream):
            yield
    finally:
        click.echo(message, file=stream)


def _is_tty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)
