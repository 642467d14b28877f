"""Request body the application left unread is read and dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import pytest

from anyio_bridge.wsgi import WsgiToAsgi, WsgiToAsgiInstance

from .apps import Environ, StartResponse
from .driver import Message, Response, body_messages, http_scope, request

pytestmark = pytest.mark.anyio


class _BodyAfterAnswer:
    """A request body whose parts are received one by one, recording how many
    response messages had been sent at each receive; *gate* (if given) holds
    back the parts from the third on until it is set."""

    def __init__(self, parts: list[bytes], gate: anyio.Event | None = None) -> None:
        self.pending = body_messages(parts)
        self.gate = gate
        self.response = Response()
        self.sent_at_each_read: list[int] = []

    async def receive(self) -> Message:
        if self.gate is not None and len(self.pending) == 2:
            await self.gate.wait()
        self.sent_at_each_read.append(len(self.response.messages))
        if self.pending:
            return self.pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def run(self, app: Callable[..., Any]) -> Response:
        await request(
            WsgiToAsgi(app),
            http_scope("POST"),
            receive=self.receive,
            response=self.response,
        )
        # Every part was read while the response was still incomplete.
        assert not self.pending
        assert max(self.sent_at_each_read) < len(self.response.messages)
        return self.response


def _refuse(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("401 Unauthorized", [("Content-Type", "text/plain")])
    return [b"no"]


def _fail(environ: Environ, start_response: StartResponse) -> list[bytes]:
    raise ZeroDivisionError("bad view")


@pytest.mark.parametrize(("app", "status"), [(_refuse, 401), (_fail, 500)])
async def test_unread_body_is_dropped_before_the_response_ends(
    app: Callable[..., Any], status: int
) -> None:
    """An application that answers without reading the whole body: the rest
    is read and dropped before the last response message, so that servers
    which stop reading meanwhile (hypercorn) see the request through and the
    client, still sending, gets its answer."""
    response = await _BodyAfterAnswer([b"a" * 10, b"b" * 10, b"c" * 10]).run(app)
    assert response.status == status
    assert response.complete
    assert response.header(b"connection") is None


async def test_unread_body_is_dropped_by_the_reader_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same once the body streams (the application read past the first
    message): what is left is dropped, never handed to the application."""
    dropping = anyio.Event()
    drop = WsgiToAsgiInstance._drop_rest_by_reader

    async def observed_drop(self: WsgiToAsgiInstance) -> None:
        dropping.set()
        await drop(self)

    monkeypatch.setattr(WsgiToAsgiInstance, "_drop_rest_by_reader", observed_drop)
    got: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        got.append(environ["wsgi.input"].read(15))
        start_response("200 OK", [])
        return [b"enough"]

    # The rest comes once the response is ready.
    body = _BodyAfterAnswer([b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10], dropping)
    response = await body.run(app)
    assert got == [b"a" * 10 + b"b" * 5]
    assert response.body == b"enough"


async def test_dropping_the_body_stops_when_the_client_leaves() -> None:
    messages = [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    response = await request(WsgiToAsgi(_refuse), http_scope("POST"), receive=receive)
    assert response.status == 401  # sent all the same; the server drops it
    assert not messages


async def test_dropping_the_body_stops_past_max_body_size() -> None:
    endless = (
        {"type": "http.request", "body": b"x" * 10, "more_body": True}
        for _ in iter(int, 1)
    )
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return next(endless)

    adapter = WsgiToAsgi(_refuse, max_body_size=35)
    response = await request(adapter, http_scope("POST"), receive=receive)
    assert response.status == 401
    assert read == 4  # 40 bytes: past the limit, reading stops
