"""Requests still running past the graceful timeout end the same way on both
backends: ``503`` if no response had started, a closed connection if one had.

:class:`ShutdownGate` is a layer (inside the access log, see :mod:`.stack`)
of the application ``serve`` runs.  When the graceful timeout of a shutdown
ends, :meth:`ShutdownGate.drain` cancels the requests still running; those
that had sent nothing are answered ``503 Service Unavailable`` with
``Connection: close`` (HTTP/1), and those whose response had started are
returned from, which makes hypercorn close their connection.  Requests
cancelled by the server itself (hypercorn's own graceful timeout, or the
forced stop after it) get the same ``503``, sent shielded from the
cancellation, where the connection still allows it.  docs/cli.md
("Stopping") says why ``503``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import anyio

from .._wsgi.sender import simple_response

__all__ = ["UNAVAILABLE", "ShutdownGate"]

logger = logging.getLogger("anyio_bridge.serve")

_Scope = MutableMapping[str, Any]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, Callable[[], Awaitable[Any]], _Send], Awaitable[None]]

#: The body of the ``503`` answered to requests cut by a shutdown.
UNAVAILABLE: Final = b"Service Unavailable: the server is shutting down"
#: Seconds the ``503`` may take to send when the server cancelled the request.
SEND_TIMEOUT: Final = 1.0


async def _unavailable(scope: _Scope, send: _Send) -> None:
    await simple_response(send, 503, UNAVAILABLE, close=scope)


class ShutdownGate:
    """An ASGI layer that can cut the requests it runs short, with a ``503``."""

    def __init__(self, app: _ASGIApp) -> None:
        self.app = app
        self.draining = False
        self._running: set[anyio.CancelScope] = set()

    def drain(self) -> int:
        """Cancel the requests running, and answer ``503`` to those to come.

        Returns how many requests were running.
        """
        self.draining = True
        for cancel_scope in self._running:
            cancel_scope.cancel()
        return len(self._running)

    async def __call__(
        self, scope: _Scope, receive: Callable[[], Awaitable[Any]], send: _Send
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining:
            await _unavailable(scope, send)
            return
        started = False

        async def send_response(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = True  # whether or not a cancellation cuts this send
            await send(message)

        cancel_scope = anyio.CancelScope()
        self._running.add(cancel_scope)
        try:
            with cancel_scope:
                await self.app(scope, receive, send_response)
        except anyio.get_cancelled_exc_class():
            # Cancelled by the server: answer if nothing was sent, shielded
            # from the cancellation, then let it go on.
            if not started:
                with anyio.move_on_after(SEND_TIMEOUT, shield=True):
                    await self._answer_cancelled(scope, send)
            raise
        finally:
            self._running.discard(cancel_scope)
        if cancel_scope.cancelled_caught and not started:
            await _unavailable(scope, send)

    @staticmethod
    async def _answer_cancelled(scope: _Scope, send: _Send) -> None:
        try:
            await _unavailable(scope, send)
        except Exception:
            # The connection may be gone already: the cancellation, which
            # must go on, matters more than this answer.
            logger.debug("could not answer 503 to a cancelled request", exc_info=True)
