"""The two ways ``anyio-bridge serve`` fails before serving."""

from __future__ import annotations

import sys
from typing import Final, TextIO

__all__ = ["INTERRUPTED", "ServeError", "UsageError", "interrupted"]

#: Exit status after Ctrl-C before serving started (while importing).
INTERRUPTED: Final = 130


def interrupted() -> int:
    """Say that Ctrl-C came before serving started; return :data:`INTERRUPTED`."""
    print("anyio-bridge serve: interrupted", file=sys.stderr)
    return INTERRUPTED


class UsageError(ValueError):
    """A malformed command-line value (the command exits with status 2)."""


class ServeError(Exception):
    """The application cannot be served (the command exits with status 1).

    :param details: more to print before the message, such as the traceback
        of an exception the application's module raised on import.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    def report(self, file: TextIO | None = None) -> None:
        """Print the details and the one-line message (to standard error)."""
        err = sys.stderr if file is None else file
        if self.details:
            print(self.details, end="", file=err)
        print(f"anyio-bridge serve: error: {self}", file=err)
