"""The CLI's errors and exit codes: one table, so scripts can rely on them.

| code | meaning |
| --- | --- |
| 0 | success |
| 1 | the operation ran and failed (a deploy failed; ``diff`` found differences) |
| 2 | usage or bad input (a bad flag, an invalid name or file, a 400 from the server) |
| 3 | not logged in, or not allowed (401, 403) |
| 4 | not found (404) |
| 5 | conflict with the current state (409: exists already, review required, ...) |
| 6 | the server or a service it needs is unavailable (5xx, connection refused, timeout) |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130

_BY_STATUS = {
    400: EXIT_USAGE,
    401: EXIT_AUTH,
    403: EXIT_AUTH,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    413: EXIT_USAGE,
    422: EXIT_USAGE,
    429: EXIT_UNAVAILABLE,
}


def exit_code_for(status: int) -> int:
    """The exit code for an HTTP error status from the server."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return EXIT_UNAVAILABLE if status >= 500 else EXIT_FAILED


class CliError(click.ClickException):
    """An error for the person at the terminal: what went wrong, and what to do next.

    Printed on stderr without an ``Error:`` prefix (the message is a sentence of its own),
    with the hint on the next line.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        exit_code: int = EXIT_FAILED,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code
        self.problems = problems or []

    def show(self, file: object = None) -> None:
        err = click.get_text_stream("stderr")
        message = self.format_message()
        click.echo(message, file=err)
        for problem in self.problems:
            if problem != message:  # a one-problem error is often its own message
                click.echo(f"  {problem}", file=err)
        if self.hint:
            click.echo(f"hint: {self.hint}", file=err)


@contextmanager
def suggest_close_match(
    name: str, candidates: Callable[[], Iterable[str]], what: str = "project"
) -> Iterator[None]:
    """On a not-found error for ``name``, add the close match among ``candidates`` as the hint.

    ``candidates`` is called only on that error, and lists only what the caller may see, so a
    suggestion never leaks a private name.
    """
    try:
        yield
    except CliError as exc:
        if exc.exit_code == EXIT_NOT_FOUND:
            import difflib

            try:
                names = list(candidates())
            except CliError:
                names = []
            match = difflib.get_close_matches(name, names, n=1)
            # ``name`` itself listed: the 404 was about something else (a key of the project).
            if match and name not in names:
                exc.hint = f"did you mean '{match[0]}'?"
        raise
