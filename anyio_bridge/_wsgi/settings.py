"""The options shared by every request of one :class:`~.adapter.WsgiToAsgi`."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

from anyio import CapacityLimiter

from .._backends import Loop

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Requests running the application at once, per event loop, by default.
#: A limiter of the adapter's own: were WSGI requests to hold tokens of
#: anyio's default thread limiter, a full house of requests calling back into
#: the loop for code that itself uses ``anyio.to_thread`` would deadlock.
DEFAULT_THREADS: Final = 64
DEFAULT_SEND_BUFFER: Final = 256 * 1024


class Settings:
    """Options shared by every request of one adapter."""

    __slots__ = (
        "app",
        "duplicate_header_limit",
        "limiters",
        "max_body_size",
        "send_buffer_size",
        "tokens",
    )

    def __init__(
        self,
        app: WSGIApp,
        duplicate_header_limit: int | None,
        limiter: CapacityLimiter | int | None,
        max_body_size: int | None,
        send_buffer_size: int,
    ) -> None:
        if isinstance(limiter, int) and limiter < 1:
            raise ValueError("limiter must be at least 1")
        if max_body_size is not None and max_body_size < 0:
            raise ValueError("max_body_size must not be negative")
        if send_buffer_size < 1:
            raise ValueError("send_buffer_size must be at least 1")
        self.app = app
        self.duplicate_header_limit = duplicate_header_limit
        self.max_body_size = max_body_size
        self.send_buffer_size = send_buffer_size
        self.tokens = limiter
        self.limiters: weakref.WeakKeyDictionary[Loop, CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self, loop: Loop) -> CapacityLimiter:
        """The limiter for requests on *loop* (call on the loop's thread)."""
        tokens = self.tokens
        if isinstance(tokens, CapacityLimiter):
            return tokens
        limiter = self.limiters.get(loop)
        if limiter is None:
            limiter = CapacityLimiter(DEFAULT_THREADS if tokens is None else tokens)
            self.limiters[loop] = limiter
        return limiter
