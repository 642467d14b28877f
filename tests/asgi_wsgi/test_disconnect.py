"""The client going away: the server closes the iterable early, or its input fails."""

from __future__ import annotations

import logging
import threading

import anyio
import pytest

from anyio_bridge.wsgi import ClientDisconnected

from .driver import (
    BACKENDS,
    TEXT,
    Gate,
    Input,
    Message,
    Reached,
    Receive,
    Scope,
    Send,
    log_signal,
    make_environ,
    serve,
    start,
    wait_for,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

START = {"type": "http.response.start", "status": 200, "headers": TEXT}


def chunk(data: bytes, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_early_close_is_a_disconnect(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "anyio_bridge.wsgi")
    received: list[Message] = []
    raised: list[BaseException] = []
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            received.append(await receive())  # the empty body
            await send(START)
            await send(chunk(b"a"))
            received.append(await receive())  # waits: the client is still there
            received.append(await receive())
            await send(chunk(b"b"))
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            ended.set()

    with (
        serve(app, backend=backend, disconnect_grace=60) as adapter,
        log_signal(logging.DEBUG) as logged,
    ):
        with start(adapter, make_environ(path="/gone")) as call:
            assert call.next_chunk() == b"a"
        wait_for(ended)
        wait_for(logged)
    assert received == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]
    [exc] = raised
    assert isinstance(exc, ClientDisconnected)
    assert isinstance(exc, OSError)  # ASGI spec 2.4
    assert "the client went away during /gone" in caplog.text
    assert warnings_logged(caplog) == []  # a disconnect is no error


def test_early_close_before_anything_was_read(backend: str) -> None:
    received: list[Message] = []
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(START)
            await receive()
            received.append(await receive())
        finally:
            ended.set()

    with serve(app, backend=backend, disconnect_grace=60) as adapter:
        call = start(adapter, make_environ())
        assert call.status == "200 OK"
        call.close()
        call.close()  # servers may close twice: nothing more happens
        call.original.close()
        wait_for(ended)
    assert received == [{"type": "http.disconnect"}]


@pytest.mark.parametrize("grace", [0.05, 0])
def test_app_ignoring_the_disconnect_is_cancelled_after_the_grace(
    backend: str, grace: float, caplog: pytest.LogCaptureFixture
) -> None:
    ended = threading.Event()
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(chunk(b"a"))
        try:
            await Gate().wait()  # never opened, and no receive()
            outcome.append("woken")
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise
        finally:
            ended.set()

    with serve(app, backend=backend, disconnect_grace=grace) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"a"
        wait_for(ended)
    assert outcome == ["cancelled"]
    assert warnings_logged(caplog) == []


def test_app_finishing_within_the_grace_is_not_cancelled(backend: str) -> None:
    gate = Gate()
    ended = threading.Event()
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(START)
            await send(chunk(b"a"))
            await gate.wait()  # opened before the server closes
            outcome.append("done")
        finally:
            ended.set()

    with serve(app, backend=backend, disconnect_grace=60) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"a"
            gate.open()
        wait_for(ended)
    assert outcome == ["done"]


def test_send_waiting_on_a_full_buffer_sees_the_disconnect(backend: str) -> None:
    first_taken = Gate()
    blocked = Reached()
    ended = threading.Event()
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(START)
            await send(chunk(b"a"))
            await first_taken.wait()
            blocked.set()
            await send(chunk(b"b" * 100))  # past the 10-byte buffer: waits
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            ended.set()

    with serve(app, backend=backend, send_buffer_size=10) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"a"
            first_taken.open()
            blocked.wait()
        wait_for(ended)
    [exc] = raised
    assert isinstance(exc, ClientDisconnected)


def test_complete_response_closed_unread_does_not_cancel_the_app(
    backend: str,
) -> None:
    # The response is whole on the adapter's side: closing the iterable
    # before reading it all is no reason to cancel work the app does after.
    gate = Gate()
    complete = Reached()
    closed = Gate()
    ended = threading.Event()
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(START)
            await send(chunk(b"a"))
            await gate.wait()
            await send(chunk(b"b", more=False))
            complete.set()
            await closed.wait()
            await anyio.lowlevel.checkpoint()  # would raise if cancelled
            outcome.append("after-work done")
        finally:
            ended.set()

    with serve(app, backend=backend, disconnect_grace=0) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"a"
            gate.open()
            complete.wait()
        closed.open()
        wait_for(ended)
    assert outcome == ["after-work done"]


def test_listening_for_the_disconnect_while_streaming(backend: str) -> None:
    # Starlette's StreamingResponse listens for http.disconnect in a task
    # beside the one sending: it must hear one once the response is out.
    gate = Gate()
    ended = threading.Event()
    heard: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await receive()  # the body

            async def listen() -> None:
                heard.append(await receive())

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listen)
                await send(START)
                await send(chunk(b"a"))
                await gate.wait()
                await send(chunk(b"b", more=False))
        finally:
            ended.set()

    with serve(app, backend=backend, disconnect_grace=60) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"a"
            gate.open()
            assert call.read() == b"ab"
        wait_for(ended)
    assert heard == [{"type": "http.disconnect"}]


def test_app_ending_as_the_server_closes(backend: str) -> None:
    # The app ends on its own just as the server gives up on the response:
    # nothing is left to cancel, and nothing is logged.
    gate = Gate()
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(START)
            await send(chunk(b"a"))
            await gate.wait()
        finally:
            ended.set()

    with (
        serve(app, backend=backend, disconnect_grace=0) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.next_chunk() == b"a"
        gate.open()
    wait_for(ended)


class Abort(BaseException):
    """What a server's worker timeout might raise in its thread."""


def test_server_thread_interrupted_while_reading_the_body(backend: str) -> None:
    data = b"x" * 10_000
    received: list[Message] = []
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while True:
                message = await receive()
                received.append(message)
                if message["type"] != "http.request":
                    break
        finally:
            ended.set()

    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = Input(data, fail_after=1024, error=Abort())
    with serve(app, backend=backend, chunk_size=1024, disconnect_grace=60) as adapter:
        with pytest.raises(Abort):
            start(adapter, environ)
        wait_for(ended)
    assert received[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in received) == data[:1024]


def test_server_thread_interrupted_while_reading_a_small_body(backend: str) -> None:
    # Read before the app starts: the app is not called for that request.
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)
        await send(START)
        await send(chunk(b"ok", more=False))

    environ = make_environ("POST", body=b"small")
    environ["wsgi.input"] = Input(b"small", fail_after=0, error=Abort())
    with serve(app, backend=backend) as adapter:
        with pytest.raises(Abort):
            start(adapter, environ)
        # The adapter carries on.
        with start(adapter, make_environ("POST", body=b"small")) as call:
            assert call.read() == b"ok"
    assert len(called) == 1
