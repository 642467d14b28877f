"""Responses: lists, iterables, ``write()``, Content-Length, HEAD, back-pressure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.validate import validator

import anyio
import anyio.from_thread
import pytest

from anyio_bridge.wsgi import WsgiToAsgi, WsgiToAsgiInstance

from .apps import WAIT, Closing, Environ, StartResponse, app_returning, hello
from .driver import Message, Response, http_scope, request

pytestmark = pytest.mark.anyio


async def test_list_response() -> None:
    response = await request(WsgiToAsgi(validator(hello)))
    assert response.status == 200
    assert response.headers == [
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
    ]
    assert response.body == b"hello"
    assert response.complete


async def test_empty_iterable_still_sends_the_start() -> None:
    app = app_returning([], "304 Not Modified", [("ETag", '"v1"')])
    response = await request(WsgiToAsgi(validator(app)))
    assert response.status == 304
    assert response.body == b""
    assert response.complete


async def test_write_callable_comes_before_the_iterable() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    response = await request(WsgiToAsgi(validator(app)))
    assert response.body == b"written returned"


async def test_write_rejects_text() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])("text")
        raise AssertionError  # pragma: no cover

    response = await request(WsgiToAsgi(app))
    assert response.status == 500


async def test_content_length_is_respected() -> None:
    body = Closing([b"abc", b"defgh", b"never"])
    app = app_returning(body, headers=[("Content-Length", "5")])
    response = await request(WsgiToAsgi(app))
    assert response.body == b"abcde"
    assert body.produced == 2  # iteration stopped at the declared length
    assert body.closed.is_set()


async def test_content_length_zero_stops_at_once() -> None:
    body = Closing([b"abc"])
    app = app_returning(body, headers=[("Content-Length", "0")])
    response = await request(WsgiToAsgi(app))
    assert response.body == b""
    assert body.closed.is_set()


async def test_head_sends_headers_only() -> None:
    body = Closing([b"abc", b"def"])
    app = app_returning(body, headers=[("Content-Length", "6")])
    response = await request(WsgiToAsgi(app), http_scope("HEAD"))
    assert response.status == 200
    assert response.header(b"content-length") == b"6"
    assert response.body == b""
    assert body.produced == 0
    assert body.closed.is_set()


async def test_head_with_a_lazy_start_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "3")])
        yield b"abc"

    response = await request(WsgiToAsgi(app), http_scope("HEAD"))
    assert response.status == 200
    assert response.body == b""


async def test_streamed_response_keeps_order_and_bounds_buffering() -> None:
    chunks = [bytes([i]) * 1000 for i in range(200)]
    body = Closing(chunks)
    app = WsgiToAsgi(app_returning(body), send_buffer_size=4096)
    response = await request(app)
    assert response.body == b"".join(chunks)
    assert response.complete
    assert body.closed.is_set()
    bodies = [m for m in response.messages if m["type"] == "http.response.body"]
    assert len(bodies) > 10  # streamed in pieces, not collected whole
    assert max(len(m["body"]) for m in bodies) <= 4096 + 1000


async def test_backpressure_holds_the_app_back() -> None:
    """While the server does not take data, the app produces a bounded amount."""
    release = anyio.Event()
    produced = 0
    first_sent = anyio.Event()
    # Set when the thread waits on the request's condition (only the wait for
    # room in the send buffer does, the body not being streamed), or when the
    # app has produced everything: the amount produced is final either way.
    stopped = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [])
        for _ in range(1000):
            produced += 1
            yield b"x" * 1024
        stopped.set()

    instance = WsgiToAsgiInstance(app, send_buffer_size=8192)

    class Observed(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            stopped.set()
            return super().wait(timeout)

    instance._changed = Observed(instance._lock)
    response = Response()

    async def send(message: Message) -> None:
        response.messages.append(message)
        if message["type"] == "http.response.body" and not first_sent.is_set():
            first_sent.set()
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: request(instance, send=send, response=response))
        await first_sent.wait()
        # The first send has not returned: nothing has left the buffer.
        assert await anyio.to_thread.run_sync(stopped.wait, WAIT)
        # The thread blocks once 8 KiB are pending: it cannot run away.
        assert produced <= 2 * 8 + 2
        release.set()
    assert produced == 1000
    assert len(response.body) == 1000 * 1024


@pytest.mark.parametrize("size", [1, 300_000])
async def test_each_part_is_sent_before_the_next_is_made(size: int) -> None:
    """Small parts stream too (server-sent events, progress output)."""
    seen = [threading.Event() for _ in range(3)]

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        for index in range(3):
            yield str(index).encode() * size
            assert seen[index].wait(WAIT)

    response = Response()

    async def send(message: Message) -> None:
        response.messages.append(message)
        body = message.get("body", b"")
        if body:
            seen[int(body[:1])].set()

    await request(WsgiToAsgi(validator(app)), send=send, response=response)
    assert response.body == b"0" * size + b"1" * size + b"2" * size
    assert response.complete


async def test_a_list_response_is_one_start_and_one_body_message() -> None:
    """Nothing of a list response is sent before the whole list is handed over,
    even when the loop would have time to send a first part."""
    sent = threading.Event()

    class SlowList(list[bytes]):
        def __iter__(self) -> Iterator[bytes]:
            for i, part in enumerate(list.__iter__(self)):
                if i:
                    # Every task on the loop has run as far as it can: had the
                    # part before been handed over, it would have been sent.
                    anyio.from_thread.run(anyio.wait_all_tasks_blocked)
                    assert not sent.is_set()
                yield part

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return SlowList([b"one,", b"two,", b"three"])

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        sent.set()

    await request(WsgiToAsgi(app), send=send)
    assert [message["type"] for message in messages] == [
        "http.response.start",
        "http.response.body",
    ]
    assert messages[1]["body"] == b"one,two,three"
    assert not messages[1].get("more_body", False)


async def test_header_values_are_sent_without_surrounding_whitespace() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        # What Django writes for a cookie, and a padded Content-Length.
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Set-Cookie", " sid=1; Path=/"),
                ("X-Padded", "\tvalue \t"),
                ("Content-Length", " 2 "),
            ],
        )
        return [b"ok"]

    response = await request(WsgiToAsgi(app))
    assert response.headers == [
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"sid=1; Path=/"),
        (b"x-padded", b"value"),
        (b"content-length", b"2"),
    ]
    assert response.body == b"ok"
