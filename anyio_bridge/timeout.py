"""A deadline for a block of async code, on asyncio and trio.

:class:`timeout` is the counterpart of ``asgiref.timeout.timeout``: a context
manager that cancels the code inside it once a deadline passes and then raises
the built-in :class:`TimeoutError`.  It is built on an :class:`anyio.CancelScope`,
so it follows anyio's (that is, trio's) cancellation rules on both backends;
``docs/timeout.md`` explains them.
"""

from ._asgi.timeout import (
    timeout,
)

__all__ = ["timeout"]
