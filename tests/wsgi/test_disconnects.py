"""The client leaving, the request cancelled, ``send`` or ``receive`` failing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import anyio.from_thread
import pytest

from anyio_bridge.wsgi import ClientDisconnected, WsgiToAsgi

from .apps import WAIT, Environ, StartResponse
from .driver import Message, Response, http_scope, request

pytestmark = pytest.mark.anyio


async def test_reads_after_a_disconnect_fail_clearly() -> None:
    errors: list[BaseException] = []
    finished = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            return reading_app(environ, start_response)
        finally:
            finished.set()

    def reading_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        assert stream.read(5) == b"first"
        try:
            stream.read(5)
        except ClientDisconnected as exc:
            errors.append(exc)
        try:
            stream.read(5)
        except ClientDisconnected as exc:
            errors.append(exc)
        start_response("200 OK", [])
        return [b"unsent"]

    messages: list[Message] = [
        {"type": "http.request", "body": b"first", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    response = await request(WsgiToAsgi(app), http_scope("POST"), receive=receive)
    assert response.messages == []
    assert await anyio.to_thread.run_sync(finished.wait, WAIT)
    assert len(errors) == 2
    assert all(isinstance(error, OSError) for error in errors)


async def test_disconnect_before_the_request_skips_the_app() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise AssertionError("must not run")  # pragma: no cover

    response = await request(WsgiToAsgi(app), http_scope("POST"), receive=receive)
    assert response.messages == []


async def test_client_disconnect_mid_response_stops_and_closes() -> None:
    produced = 0
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [])
        try:
            while True:
                produced += 1
                yield b"x" * 65536
        finally:
            closed.set()

    disconnect = anyio.Event()
    messages = 0

    async def receive() -> Message:
        nonlocal messages
        messages += 1
        if messages == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    response = Response()

    async def send(message: Message) -> None:
        response.messages.append(message)
        if len(response.messages) == 3:
            disconnect.set()

    limiter = anyio.CapacityLimiter(1)
    await request(
        WsgiToAsgi(app, limiter=limiter), receive=receive, send=send, response=response
    )
    assert not response.complete
    assert await anyio.to_thread.run_sync(closed.wait, WAIT)
    with anyio.fail_after(WAIT):
        async with limiter:  # the thread gave its token back
            pass


async def test_cancelled_request_closes_and_frees_the_thread() -> None:
    entered = threading.Event()
    proceed = threading.Event()
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            entered.set()
            assert proceed.wait(WAIT)
            yield b"never sent"
        finally:
            closed.set()

    limiter = anyio.CapacityLimiter(1)
    response = Response()
    with anyio.move_on_after(WAIT) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: request(WsgiToAsgi(app, limiter=limiter), response=response)
            )
            assert await anyio.to_thread.run_sync(entered.wait, WAIT)
            tg.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert response.messages == []
    # The thread still holds its token until the app returns.
    assert limiter.borrowed_tokens == 1
    proceed.set()
    assert await anyio.to_thread.run_sync(closed.wait, WAIT)
    with anyio.fail_after(WAIT):
        async with limiter:
            pass


async def test_send_failure_aborts_and_closes() -> None:
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed.set()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        await request(WsgiToAsgi(app), send=send)
    assert await anyio.to_thread.run_sync(closed.wait, WAIT)


async def test_write_after_a_disconnect_raises() -> None:
    errors: list[BaseException] = []
    wrote = threading.Event()
    finished = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [])
        try:
            write(b"x" * 300_000)  # handed over: the response streams
            wrote.set()
            while True:  # backpressure stops this until the client leaves
                write(b"y" * 65536)
        except ClientDisconnected as exc:
            errors.append(exc)
            raise
        finally:
            finished.set()

    messages = 0

    async def receive() -> Message:
        nonlocal messages
        messages += 1
        if messages == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        assert await anyio.to_thread.run_sync(wrote.wait, WAIT)
        return {"type": "http.disconnect"}

    response = await request(WsgiToAsgi(app), receive=receive)
    assert not response.complete
    assert await anyio.to_thread.run_sync(finished.wait, WAIT)
    assert len(errors) == 1


async def test_receive_failure_reaches_the_server() -> None:
    finished = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            with pytest.raises(ClientDisconnected):
                environ["wsgi.input"].read(10)
        finally:
            finished.set()
        start_response("200 OK", [])
        return []

    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b"", "more_body": True}
        raise ConnectionResetError("receive broke")

    with pytest.raises(ConnectionResetError, match="receive broke"):
        await request(WsgiToAsgi(app), http_scope("POST"), receive=receive)
    assert await anyio.to_thread.run_sync(finished.wait, WAIT)
