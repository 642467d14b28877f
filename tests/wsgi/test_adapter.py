"""The adapter's options, and the scopes other than ``http``."""

from __future__ import annotations

import pytest

from anyio_bridge.wsgi import WsgiToAsgi

from .apps import hello
from .driver import Message

pytestmark = pytest.mark.anyio


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="limiter"):
        WsgiToAsgi(hello, limiter=0)
    with pytest.raises(ValueError, match="max_body_size"):
        WsgiToAsgi(hello, max_body_size=-1)
    with pytest.raises(ValueError, match="send_buffer_size"):
        WsgiToAsgi(hello, send_buffer_size=0)
    assert WsgiToAsgi(hello, 7).duplicate_header_limit == 7


async def test_lifespan_completes() -> None:
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await WsgiToAsgi(hello)({"type": "lifespan"}, receive, send)
    assert sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


async def test_websocket_is_closed() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await WsgiToAsgi(hello)({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]


async def test_unknown_scope_type_is_refused() -> None:
    async def receive() -> Message:
        raise AssertionError  # pragma: no cover

    async def send(message: Message) -> None:
        raise AssertionError  # pragma: no cover

    with pytest.raises(ValueError, match="'other'"):
        await WsgiToAsgi(hello)({"type": "other"}, receive, send)


async def test_lifespan_ignores_unknown_messages() -> None:
    messages = [
        {"type": "lifespan.unknown"},
        {"type": "lifespan.startup"},
        {"type": "lifespan.shutdown"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await WsgiToAsgi(hello)({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
