"""Request body the application left unread is read and dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import pytest

from anyio_bridge._wsgi.body import LINGER
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
    # Reading stops past the limit and the little more it lingers for.
    assert read == (35 + LINGER) // 10 + 1


def _read_all(environ: Environ, start_response: StartResponse) -> list[bytes]:
    data = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [data]


async def test_a_body_a_little_too_large_is_read_before_the_413() -> None:
    # The client sent its whole body: read it all (dropping it) before the
    # 413, or the server closing the connection with data unread would reset
    # it and the client would lose the answer.
    messages: list[Message] = [
        {"type": "http.request", "body": b"a" * 600, "more_body": True},
        {"type": "http.request", "body": b"b" * 600, "more_body": True},
        {"type": "http.request", "body": b"c" * 600, "more_body": False},
    ]
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    adapter = WsgiToAsgi(_read_all, max_body_size=1000)
    response = await request(adapter, http_scope("POST"), receive=receive)
    assert response.status == 413
    assert pending == []


async def test_lingering_past_max_body_size_is_bounded() -> None:
    lingered = (5000 + LINGER) // 1000 + 1  # reads up to the lingering bound
    read = 0
    answered = anyio.Event()
    response = Response()

    async def receive() -> Message:
        # An upload that goes on: past the bound, the next part only comes
        # once the 413 has gone out, so an adapter that waited for more body
        # before answering would never answer.
        nonlocal read
        read += 1
        if read > lingered:
            await answered.wait()
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answered.set()
        response.messages.append(message)

    adapter = WsgiToAsgi(_read_all, max_body_size=5000)
    with anyio.fail_after(30):
        await request(adapter, http_scope("POST"), receive=receive, send=send)
    assert response.status == 413


async def test_a_client_that_stops_sending_still_gets_its_413() -> None:
    # Past the limit, then nothing more (the client waits for an answer
    # without closing): the lingering read gives up and the 413 goes out.
    sent_everything = anyio.Event()
    answered = anyio.Event()
    response = Response()
    parts = [b"a" * 600, b"b" * 600]

    async def receive() -> Message:
        if parts:
            return {"type": "http.request", "body": parts.pop(0), "more_body": True}
        sent_everything.set()
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answered.set()
        response.messages.append(message)

    adapter = WsgiToAsgi(_read_all, max_body_size=1000)
    with anyio.fail_after(30):
        await request(adapter, http_scope("POST"), receive=receive, send=send)
    assert sent_everything.is_set()
    assert response.status == 413
