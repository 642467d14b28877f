"""The two ways ``anyio-bridge serve`` fails before serving."""

from __future__ import annotations

__all__ = ["ServeError", "UsageError"]


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
