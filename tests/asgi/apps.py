"""Sample ASGI applications shared by the tests of anyio_bridge.testing."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.lowlevel

from anyio_bridge.typing import ASGIReceiveCallable, ASGISendCallable, Scope

Receive = Any
Send = Any

SCOPE = {"type": "test"}
variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")


# --------------------------------------------------------------------------
# Sample applications
# --------------------------------------------------------------------------


async def echo_app(scope: Any, receive: Receive, send: Send) -> None:
    """Sends back every message, with the context variable's value."""
    while True:
        message = await receive()
        if message["type"] == "stop":
            return
        await send({"type": "echo", "message": message, "var": variable.get("")})


class Recorder:
    """An application that records how it ended."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.ended = anyio.Event()
        self.outcome = ""

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        self.started.set()
        try:
            await receive()
            self.outcome = "returned"
        except anyio.get_cancelled_exc_class():
            self.outcome = "cancelled"
            raise
        finally:
            self.ended.set()


class Failing:
    """Raises ValueError when started, after sending *sent* messages."""

    def __init__(self, sent: Iterable[dict[str, Any]] = ()) -> None:
        self.sent = list(sent)
        self.failed = anyio.Event()

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        for message in self.sent:
            await send(message)
        self.failed.set()
        raise ValueError("boom")


class LegacyApp:
    """ASGI 2 (double-callable): answers every message with its scope type."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
