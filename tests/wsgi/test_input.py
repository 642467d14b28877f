"""The request body as the application reads it: ``wsgi.input``, read-ahead,
size limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import anyio
import anyio.from_thread
import pytest

# Private: the read-ahead is an internal bound, not an option; the test checks
# that reading ahead stops there.
from anyio_bridge._wsgi.body import READ_AHEAD
from anyio_bridge.wsgi import RequestBodyTooLarge, WsgiToAsgi

from .apps import WAIT, Environ, StartResponse, echo
from .driver import Message, http_scope, request

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "parts",
    [[b""], [b"whole body"], [b"a", b"bc", b"", b"def"], [b"x" * 100_000] * 5],
    ids=["empty", "one-message", "several", "large"],
)
async def test_body_arrives_whole(parts: list[bytes]) -> None:
    response = await request(WsgiToAsgi(validator(echo)), http_scope("POST"), parts)
    assert response.status == 200
    assert response.body == b"".join(parts)


async def test_read_methods_over_a_streamed_body() -> None:
    results: dict[str, Any] = {}

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        results["read3"] = stream.read(3)
        results["line"] = stream.readline()
        results["limited"] = stream.readline(2)
        results["rest_of_line"] = stream.readline(-1)
        results["lines"] = stream.readlines(1)
        results["iterated"] = list(stream)
        results["eof"] = (stream.read(5), stream.readline(), list(stream))
        start_response("200 OK", [])
        return []

    parts = [b"abcde", b"f\nghij\nk", b"lm\n", b"n\no\n", b"p\n", b"q"]
    await request(WsgiToAsgi(validator(app)), http_scope("POST"), parts)
    assert results == {
        "read3": b"abc",
        "line": b"def\n",
        "limited": b"gh",
        "rest_of_line": b"ij\n",
        "lines": [b"klm\n"],
        "iterated": [b"n\n", b"o\n", b"p\n", b"q"],
        "eof": (b"", b"", []),
    }


async def test_read_everything_and_readlines_without_hint() -> None:
    results: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        results.append(stream.readline(None))
        results.append(stream.readlines())
        start_response("200 OK", [])
        return []

    parts = [b"one\ntw", b"o\nthree"]
    await request(WsgiToAsgi(app), http_scope("POST"), parts)
    assert results == [b"one\n", [b"two\n", b"three"]]

    results.clear()

    def reader(environ: Environ, start_response: StartResponse) -> list[bytes]:
        results.append(environ["wsgi.input"].read(None))
        start_response("200 OK", [])
        return []

    await request(WsgiToAsgi(reader), http_scope("POST"), parts)
    assert results == [b"one\ntwo\nthree"]


async def test_app_starts_before_the_body_has_arrived() -> None:
    started = threading.Event()
    delivered: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        started.set()
        data = environ["wsgi.input"].read(100)
        start_response("200 OK", [])
        return [data]

    messages = [
        {"type": "http.request", "body": b"first", "more_body": True},
        {"type": "http.request", "body": b"second", "more_body": False},
    ]

    async def receive() -> Message:
        if not messages:
            await anyio.sleep_forever()
        message = messages.pop(0)
        if not messages:
            # The rest of the body is only sent once the app is running.
            assert await anyio.to_thread.run_sync(started.wait, WAIT)
        delivered.append(message["body"])
        return message

    response = await request(WsgiToAsgi(app), http_scope("POST"), receive=receive)
    assert response.body == b"firstsecond"
    assert delivered == [b"first", b"second"]


async def test_a_whole_body_costs_no_extra_receive() -> None:
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        assert calls == 1
        return {"type": "http.request", "body": b"abc", "more_body": False}

    response = await request(WsgiToAsgi(echo), http_scope("POST"), receive=receive)
    assert response.body == b"abc"
    assert calls == 1


async def test_body_is_read_on_demand_only() -> None:
    """A large body is pulled as the app reads, never all ahead of it."""
    chunk = b"z" * 65536
    total = 200
    sent = 0
    max_ahead = 0
    consumed = 0

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        nonlocal consumed, max_ahead
        stream = environ["wsgi.input"]
        while data := stream.read(10_000):
            consumed += len(data)
            max_ahead = max(max_ahead, sent * len(chunk) - consumed)
        start_response("200 OK", [])
        return [str(consumed).encode()]

    async def receive() -> Message:
        nonlocal sent
        if sent == total:
            await anyio.sleep_forever()
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": sent < total}

    response = await request(WsgiToAsgi(app), http_scope("POST"), receive=receive)
    assert response.body == str(total * len(chunk)).encode()
    # The adapter holds at most its bounded read-ahead plus the message in
    # hand and the one being received, not the body (200 messages were sent).
    assert max_ahead <= READ_AHEAD + 3 * len(chunk)


async def test_declared_body_over_the_limit_gets_413() -> None:
    scope = http_scope("POST", headers=[(b"content-length", b"11")])
    response = await request(WsgiToAsgi(echo, max_body_size=10), scope, b"x" * 11)
    assert response.status == 413
    # The body is left unread, so an HTTP/1 client must not reuse the
    # connection; HTTP/2 forbids the header.
    assert response.header(b"connection") == b"close"
    scope["http_version"] = "2"
    response = await request(WsgiToAsgi(echo, max_body_size=10), scope, b"x" * 11)
    assert response.status == 413
    assert response.header(b"connection") is None
    scope = http_scope("POST", headers=[(b"content-length", b"10")])
    response = await request(WsgiToAsgi(echo, max_body_size=10), scope, b"x" * 10)
    assert response.body == b"x" * 10


async def test_first_message_over_the_limit_gets_413() -> None:
    response = await request(
        WsgiToAsgi(echo, max_body_size=3), http_scope("POST"), b"abcd"
    )
    assert response.status == 413
    assert response.header(b"connection") == b"close"


async def test_streamed_body_over_the_limit() -> None:
    errors: list[BaseException] = []

    def catching(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except RequestBodyTooLarge as exc:
            errors.append(exc)
        start_response("200 OK", [])
        return [b"handled"]

    parts = [b"abc", b"def", b"ghi"]
    app = WsgiToAsgi(catching, max_body_size=7)
    response = await request(app, http_scope("POST"), parts)
    assert response.body == b"handled"
    assert len(errors) == 1
    # Left unhandled, the error becomes a 413 rather than a 500.
    response = await request(
        WsgiToAsgi(echo, max_body_size=7), http_scope("POST"), parts
    )
    assert response.status == 413
    assert response.header(b"connection") == b"close"


async def test_extra_empty_request_messages_are_ignored() -> None:
    closed = threading.Event()
    wrote = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"x" * 300_000
            wrote.set()
            while True:
                yield b"y" * 65536
        finally:
            closed.set()

    messages: list[Message] = [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if len(messages) == 2:
            assert await anyio.to_thread.run_sync(wrote.wait, WAIT)
        return messages.pop(0)

    response = await request(WsgiToAsgi(app), receive=receive)
    assert not response.complete
    assert await anyio.to_thread.run_sync(closed.wait, WAIT)


async def test_iterating_wsgi_input_directly() -> None:
    lines: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        lines.extend(environ["wsgi.input"])
        start_response("200 OK", [])
        return []

    await request(WsgiToAsgi(app), http_scope("POST"), [b"a\nb", b"\nc"])
    assert lines == [b"a\n", b"b\n", b"c"]
