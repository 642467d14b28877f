"""hypercorn's logger, less its "Running on ..." line.

``serve`` prints one startup line of its own (with the actual port, and
https when serving TLS), so hypercorn's is left out; its other messages
(errors above all) go to standard error as before.  hypercorn creates the
logger from ``Config.logger_class``, in each worker process too.  Imported
only when serving: hypercorn is an optional dependency.
"""

from __future__ import annotations

from typing import Any

from hypercorn.logging import Logger

__all__ = ["ServerLogger"]


class ServerLogger(Logger):
    """hypercorn's logger, without the "Running on ..." lines."""

    async def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        if not message.startswith("Running on "):
            await super().info(message, *args, **kwargs)
