"""WsgiToAsgi driven in-process, on both backends."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import anyio
import anyio.from_thread
import pytest

from anyio_bridge._backends import current_loop
from anyio_bridge._wsgi import DEFAULT_THREADS, READ_AHEAD
from anyio_bridge.sync import async_to_sync
from anyio_bridge.wsgi import (
    ClientDisconnected,
    FileWrapper,
    RequestBodyTooLarge,
    WsgiToAsgi,
    WsgiToAsgiInstance,
)

from .wsgi_driver import Message, Response, body_messages, http_scope, request

pytestmark = pytest.mark.anyio

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WAIT = 10  # seconds: generous bound for events that must happen


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


class Closing:
    """A response iterable that records how far it was iterated and its close()."""

    def __init__(self, chunks: Iterable[bytes], fail_at: int | None = None) -> None:
        self.chunks = list(chunks)
        self.fail_at = fail_at
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("boom in iteration")
            self.produced += 1
            yield chunk

    def close(self) -> None:
        self.closed.set()


def app_returning(
    body: Any, status: str = "200 OK", headers: list[tuple[str, str]] | None = None
) -> Callable[[Environ, StartResponse], Any]:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response(status, headers or [("Content-Type", "text/plain")])
        return body

    return app


# -- environ ----------


async def test_environ_follows_pep_3333() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(dict(environ))
        start_response("204 No Content", [])
        return []

    scope = http_scope(
        "POST",
        "/api/caf\u00e9/x",
        root_path="/api",
        query_string=b"a=1&b=%C3%A9",
        headers=[
            (b"host", b"example.org"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"4"),
            (b"accept", b"text/html"),
            (b"accept", b"application/json"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"x_forwarded_for", b"6.6.6.6"),
        ],
        scheme="https",
        http_version="2",
    )
    response = await request(WsgiToAsgi(validator(app)), scope, b"data")
    assert response.status == 204
    environ = seen[0]
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == "/api"
    assert environ["PATH_INFO"] == "/caf\u00e9/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == "8000"
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == "40000"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "4"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_HOST"] == "example.org"
    assert environ["HTTP_ACCEPT"] == "text/html,application/json"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    # The underscore spelling must not pass for the real header.
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is True
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.file_wrapper"] is FileWrapper
    assert environ["asgi.scope"] is scope


async def test_environ_defaults_without_server_and_client() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return []

    scope = http_scope()
    del scope["server"], scope["client"], scope["scheme"], scope["root_path"]
    await request(WsgiToAsgi(validator(app)), scope)
    assert seen[0]["SERVER_NAME"] == "localhost"
    assert seen[0]["SERVER_PORT"] == "80"
    assert seen[0]["wsgi.url_scheme"] == "http"
    assert seen[0]["SCRIPT_NAME"] == ""
    assert "REMOTE_ADDR" not in seen[0]


def test_build_environ_like_asgiref() -> None:
    instance = WsgiToAsgiInstance(hello)
    scope = http_scope(path="/p", root_path="/other", server=("unix.sock", None))
    environ = instance.build_environ(scope, b"abc")
    assert environ["wsgi.input"].read() == b"abc"
    assert environ["PATH_INFO"] == "/p"  # the root path is not a prefix of it
    assert environ["SERVER_PORT"] == "0"
    stream = environ["wsgi.input"]
    assert instance.build_environ(scope, stream)["wsgi.input"] is stream


def test_build_environ_rejects_too_many_repeats() -> None:
    instance = WsgiToAsgiInstance(hello, duplicate_header_limit=2)
    headers = [(b"x-a", b"1")] * 3
    with pytest.raises(ValueError, match="more than 2 times"):
        instance.build_environ(http_scope(headers=headers), b"")
    unlimited = WsgiToAsgiInstance(hello, duplicate_header_limit=None)
    environ = unlimited.build_environ(http_scope(headers=headers * 50), b"")
    assert environ["HTTP_X_A"] == ",".join(["1"] * 150)


async def test_too_many_repeated_headers_get_400_without_the_app() -> None:
    called = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        called.append(True)  # pragma: no cover - must not run
        return []  # pragma: no cover

    scope = http_scope(headers=[(b"x-a", b"1")] * 101)
    response = await request(WsgiToAsgi(app), scope)
    assert response.status == 400
    assert b"repeated headers" in response.body
    assert response.header(b"connection") == b"close"
    assert not called
    # Exactly at the limit is fine.
    scope = http_scope(headers=[(b"x-a", b"1")] * 100)
    assert (await request(WsgiToAsgi(hello), scope)).status == 200


async def test_bad_content_length_gets_400() -> None:
    scope = http_scope("POST", headers=[(b"content-length", b"12x")])
    response = await request(WsgiToAsgi(hello), scope, b"abc")
    assert response.status == 400
    assert response.header(b"connection") == b"close"


# -- request body ----------


def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    data = environ["wsgi.input"].read(1 << 30)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [data]


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


# -- body size limit ----------


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


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="limiter"):
        WsgiToAsgi(hello, limiter=0)
    with pytest.raises(ValueError, match="max_body_size"):
        WsgiToAsgi(hello, max_body_size=-1)
    with pytest.raises(ValueError, match="send_buffer_size"):
        WsgiToAsgi(hello, send_buffer_size=0)
    assert WsgiToAsgi(hello, 7).duplicate_header_limit == 7


# -- responses ----------


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


# -- start_response rules ----------


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("OK 200", []),
        ("200 OK\r\nX: y", []),
        ("200 OK", [("X-Bad", "a\r\nSet-Cookie: evil=1")]),
        ("200 OK", [("X-Bad", "nul\0")]),
        ("200 OK", [("X Bad", "space in name")]),
        ("200 OK", [("X-Bad", "\u20ac")]),
        ("200 OK", [(b"X-Bytes", "value")]),
        ("200 OK", [("", "empty name")]),
        ("200 OK", [("Content-Length", "many")]),
    ],
)
async def test_bad_start_gives_500_and_sends_nothing_of_it(
    status: str, headers: list[tuple[Any, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    response = await request(WsgiToAsgi(app_returning([b"body"], status, headers)))
    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert not any(b"bad" in value.lower() for _, value in response.headers)
    assert not any(b"evil" in value for _, value in response.headers)
    assert "Exception in WSGI application" in caplog.text


async def test_second_start_response_needs_exc_info() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        raise AssertionError  # pragma: no cover

    response = await request(WsgiToAsgi(app))
    assert response.status == 500


async def test_exc_info_before_the_start_replaces_the_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise KeyError("oops")
        except KeyError:
            import sys

            exc_info = sys.exc_info()
            headers = [("Content-Type", "text/plain")]
            start_response("503 Service Unavailable", headers, exc_info)
        return [b"sorry"]

    response = await request(WsgiToAsgi(validator(app)))
    assert response.status == 503
    assert response.headers == [(b"content-type", b"text/plain")]
    assert response.body == b"sorry"


async def test_exc_info_after_the_start_aborts_the_response() -> None:
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"x" * 300_000  # more than the send buffer: the start goes out
            raise KeyError("late")
        except KeyError:
            import sys

            start_response("500 Oops", [], sys.exc_info())
            yield b"unreachable"  # pragma: no cover
        finally:
            closed.set()

    with pytest.raises(KeyError, match="late"):
        await request(WsgiToAsgi(app))
    assert closed.is_set()


async def test_no_start_response_gives_500() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"x"]

    response = await request(WsgiToAsgi(app))
    assert response.status == 500

    def empty(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return []

    response = await request(WsgiToAsgi(empty))
    assert response.status == 500


@pytest.mark.parametrize("item", ["text", bytearray(b"ba"), 3])
async def test_non_bytes_item_before_the_start_gives_500(item: Any) -> None:
    body = Closing([item])
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert body.closed.is_set()


async def test_non_bytes_item_after_the_start_aborts() -> None:
    body = Closing([b"x" * 300_000, "text"])  # type: ignore[list-item]
    response = Response()
    with pytest.raises(TypeError, match="must yield bytes"):
        await request(WsgiToAsgi(app_returning(body)), response=response)
    assert response.status == 200
    assert not response.complete
    assert body.closed.is_set()


# -- faults ----------


async def test_app_error_before_start_gives_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise ZeroDivisionError("bad view")

    response = await request(WsgiToAsgi(app), http_scope(path="/view"))
    assert response.status == 500
    assert response.header(b"content-type") == b"text/plain; charset=utf-8"
    assert response.body == b"Internal Server Error"
    record = next(r for r in caplog.records if r.name == "anyio_bridge.wsgi")
    assert "GET /view" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


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


async def test_iteration_error_before_anything_sent_gives_500() -> None:
    body = Closing([b"a", b"b"], fail_at=0)
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert body.closed.is_set()


async def test_iteration_error_after_the_start_reaches_the_server() -> None:
    body = Closing([b"x" * 300_000, b"y"], fail_at=1)
    response = Response()
    with pytest.raises(RuntimeError, match="boom in iteration"):
        await request(WsgiToAsgi(app_returning(body)), response=response)
    assert response.status == 200
    assert not response.complete
    assert body.closed.is_set()


async def test_close_error_is_a_500_if_nothing_was_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FailingClose(Closing):
        def close(self) -> None:
            super().close()
            raise OSError("close failed")

    body = FailingClose([])
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    # Once a part was handed over, the error aborts the response.
    body = FailingClose([b"ok"])
    with pytest.raises(OSError, match="close failed"):
        await request(WsgiToAsgi(app_returning(body)))
    # An error in close() after an iteration error is logged, not lost.
    body = FailingClose([b"ok"], fail_at=0)
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert "close() of the WSGI response failed" in caplog.text


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


# -- threads and limits ----------


class _BusyThread:
    """An application whose request to ``/first`` holds its thread until
    :attr:`release` is set; every request answers with the body it read."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.paths: list[str] = []

    def app(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/first":
            self.entered.set()
            assert self.release.wait(WAIT)
        data = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [data]


async def test_queued_request_whose_client_left_never_runs() -> None:
    """With every thread busy, a request waits for one; if its client
    disconnects meanwhile, the application is never called for it."""
    busy = _BusyThread()
    limiter = anyio.CapacityLimiter(1)
    adapter = WsgiToAsgi(busy.app, limiter=limiter)
    watching = anyio.Event()
    client_left = anyio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def queued_receive() -> Message:
        if messages:
            return messages.pop()
        watching.set()  # asked again: the request is waiting for a thread
        await client_left.wait()
        return {"type": "http.disconnect"}

    first, queued = Response(), Response()
    queued_done = anyio.Event()

    async def queued_request() -> None:
        scope = http_scope(path="/queued")
        await request(adapter, scope, receive=queued_receive, response=queued)
        queued_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        tg.start_soon(queued_request)
        await watching.wait()
        assert limiter.statistics().tasks_waiting == 1
        client_left.set()
        # It returns while the only thread is still busy with the first.
        with anyio.fail_after(WAIT):
            await queued_done.wait()
        assert limiter.statistics().tasks_waiting == 0
        assert limiter.borrowed_tokens == 1
        busy.release.set()
    assert first.status == 200
    assert queued.messages == []
    assert busy.paths == ["/first"]
    assert limiter.borrowed_tokens == 0


@pytest.mark.parametrize(
    ("parts", "max_body_size", "status"),
    [
        ([b"ab", b"cd"], None, 200),
        # More than the read-ahead: the rest waits in the server meanwhile.
        ([b"x" * (64 * 1024)] * (READ_AHEAD // (64 * 1024) + 2), None, 200),
        # Over the limit, found while queued: the application is told.
        ([b"ab", b"cd"], 3, 413),
    ],
)
async def test_queued_request_with_a_streamed_body_runs_once_a_thread_frees(
    parts: list[bytes], max_body_size: int | None, status: int
) -> None:
    busy = _BusyThread()
    limiter = anyio.CapacityLimiter(1)
    adapter = WsgiToAsgi(busy.app, limiter=limiter, max_body_size=max_body_size)
    first, queued = Response(), Response()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        scope = http_scope("POST", path="/queued")
        tg.start_soon(lambda: request(adapter, scope, parts, response=queued))
        await anyio.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 1
        busy.release.set()
    assert first.status == 200
    assert queued.status == status
    if status == 200:
        assert queued.body == b"".join(parts)


async def test_queued_request_whose_client_left_mid_upload_never_runs() -> None:
    busy = _BusyThread()
    adapter = WsgiToAsgi(busy.app, limiter=1)
    messages = [
        {"type": "http.request", "body": b"first part", "more_body": True},
        {"type": "http.request", "body": b"second part", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    first, queued = Response(), Response()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: request(adapter, http_scope(path="/first"), response=first)
        )
        assert await anyio.to_thread.run_sync(busy.entered.wait, WAIT)
        # Queued behind the first, it reads on and sees the client leave:
        # it returns while the only thread is still busy.
        with anyio.fail_after(WAIT):
            await request(
                adapter,
                http_scope("POST", path="/queued"),
                receive=receive,
                response=queued,
            )
        busy.release.set()
    assert not messages
    assert queued.messages == []
    assert busy.paths == ["/first"]


async def test_requests_run_concurrently_up_to_the_limiter() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    four_running = threading.Event()
    release = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 4:
                four_running.set()
        try:
            assert release.wait(WAIT)
        finally:
            with lock:
                running -= 1
        start_response("200 OK", [])
        return [b"ok"]

    adapter = WsgiToAsgi(app, limiter=4)
    results: list[int] = []

    async def one() -> None:
        results.append((await request(adapter)).status)

    async with anyio.create_task_group() as tg:
        try:
            for _ in range(16):
                tg.start_soon(one)
            # Serialized requests would never get here: four must overlap.
            assert await anyio.to_thread.run_sync(four_running.wait, WAIT)
            await anyio.wait_all_tasks_blocked()
            # The twelve others wait for a token; none has a thread.
            limiter = adapter._settings.limiter(current_loop())
            assert limiter.statistics().tasks_waiting == 12
            assert running == 4
        finally:
            release.set()
    assert results == [200] * 16
    assert peak == 4


async def test_default_limiter_is_the_adapters_own() -> None:
    seen: list[float] = []
    anyio_default = anyio.to_thread.current_default_thread_limiter()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(anyio_default.borrowed_tokens)
        start_response("200 OK", [])
        return []

    adapter = WsgiToAsgi(app)
    await request(adapter)
    assert seen == [0]  # no token of anyio's default limiter
    limiter = adapter._settings.limiter(current_loop())
    assert (limiter.total_tokens, limiter.borrowed_tokens) == (DEFAULT_THREADS, 0)


async def test_requests_calling_to_thread_through_the_loop_cannot_starve_it() -> None:
    """Requests that hold every token of anyio's default limiter would deadlock
    here: each waits, through the loop, for a to_thread call needing a token."""
    anyio_default = anyio.to_thread.current_default_thread_limiter()
    saved = anyio_default.total_tokens
    anyio_default.total_tokens = 2
    barrier = threading.Barrier(3)

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        barrier.wait(10)  # all three requests are running
        value = anyio.from_thread.run(anyio.to_thread.run_sync, lambda: b"ok")
        start_response("200 OK", [])
        return [value]

    adapter = WsgiToAsgi(app)
    bodies: list[bytes] = []

    async def one() -> None:
        bodies.append((await request(adapter)).body)

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
    finally:
        anyio_default.total_tokens = saved
    assert bodies == [b"ok"] * 3


# -- context, threads, from_thread ----------

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


async def test_app_sees_the_request_context_and_can_call_the_loop() -> None:
    seen: list[Any] = []

    async def on_loop(value: int) -> int:
        await anyio.sleep(0)
        return value * 2

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(request_id.get())
        seen.append(anyio.from_thread.run(on_loop, 21))
        seen.append(async_to_sync(on_loop)(4))
        start_response("200 OK", [])
        return []

    request_id.set("abc")
    await request(WsgiToAsgi(app))
    assert seen == ["abc", 42, 8]


# -- wsgi.errors ----------


async def test_wsgi_errors_reach_logging(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.write("line\n")
        errors.writelines(["third\n", "partial"])
        errors.flush()
        errors.flush()
        errors.close()  # shared: closing only flushes
        errors.write("still usable\n")
        start_response("200 OK", [])
        return []

    with caplog.at_level(logging.ERROR, "anyio_bridge.wsgi.errors"):
        await request(WsgiToAsgi(app))  # not validated: it forbids close()
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("errors")]
    assert lines == ["first line", "second line", "third", "partial", "still usable"]


# -- file_wrapper ----------


def file_app(path: str, *, seek: int = 0, length: int | None = None) -> Any:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the adapter
        handle.seek(seek)
        return environ["wsgi.file_wrapper"](handle, 1000)

    return app


PATHSEND = {"http.response.pathsend": {}}


async def test_file_wrapper_uses_pathsend(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)
    response = await request(
        WsgiToAsgi(file_app(str(path))), http_scope(extensions=PATHSEND)
    )
    assert response.messages[-1] == {
        "type": "http.response.pathsend",
        "path": str(path),
    }
    assert response.status == 200


@pytest.mark.parametrize(
    ("seek", "length", "extensions"),
    [(0, None, {}), (5, None, PATHSEND), (0, 10, PATHSEND)],
    ids=["no-extension", "moved", "partial-length"],
)
async def test_file_wrapper_streams_otherwise(
    tmp_path: Any, seek: int, length: int | None, extensions: Any
) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    app = WsgiToAsgi(file_app(str(path), seek=seek, length=length))
    response = await request(app, http_scope(extensions=extensions))
    expected = data[seek:]
    if length is not None:
        expected = expected[:length]
    assert response.body == expected
    assert response.complete


async def test_file_wrapper_over_a_non_file_streams() -> None:
    import io

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory"))

    response = await request(WsgiToAsgi(app), http_scope(extensions=PATHSEND))
    assert response.body == b"in memory"


async def test_file_wrapper_over_a_renamed_file_streams(tmp_path: Any) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    handle = open(path, "rb")  # noqa: SIM115 - closed by the adapter
    path.rename(tmp_path / "b.bin")

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return FileWrapper(handle)

    response = await request(WsgiToAsgi(app), http_scope(extensions=PATHSEND))
    assert response.body == b"abc"
    assert handle.closed


def test_file_wrapper_without_close() -> None:
    class Reader:
        def __init__(self) -> None:
            self.data = [b"ab", b""]

        def read(self, size: int) -> bytes:
            return self.data.pop(0)

    wrapper = FileWrapper(Reader())
    assert list(wrapper) == [b"ab"]
    wrapper.close()


# -- other scopes ----------


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


# -- edges ----------


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


async def test_head_with_a_file_wrapper_sends_no_path(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc")
    app = WsgiToAsgi(file_app(str(path), length=3))
    response = await request(app, http_scope("HEAD", extensions=PATHSEND))
    assert response.header(b"content-length") == b"3"
    assert response.body == b""
    assert response.complete


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


async def test_iterating_wsgi_input_directly() -> None:
    lines: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        lines.extend(environ["wsgi.input"])
        start_response("200 OK", [])
        return []

    await request(WsgiToAsgi(app), http_scope("POST"), [b"a\nb", b"\nc"])
    assert lines == [b"a\n", b"b\n", b"c"]


async def test_many_distinct_header_names() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return []

    headers = [(f"x-name-{i}".encode(), b"v") for i in range(600)]
    await request(WsgiToAsgi(app), http_scope(headers=headers))
    assert all(seen[0][f"HTTP_X_NAME_{i}"] == "v" for i in range(600))


def test_error_stream_is_a_writable_text_stream() -> None:
    from anyio_bridge._wsgi_environ import ERRORS

    assert ERRORS.writable()
    with pytest.raises(TypeError, match="takes str"):
        ERRORS.write(b"bytes")  # type: ignore[arg-type]


def test_pool_threads_retire_when_idle() -> None:
    from anyio_bridge._pool import WorkerPool

    pool = WorkerPool(idle_timeout=0.01)
    ran = threading.Event()
    after = threading.Event()

    def job() -> Callable[[], object]:
        ran.set()
        return after.set

    pool.submit(job)
    assert ran.wait(WAIT)
    assert after.wait(WAIT)
    (thread,) = pool.threads
    thread.join(WAIT)
    assert not thread.is_alive()
    assert pool.threads == set()
    # A retired pool starts a new thread for the next job.
    second = threading.Event()
    pool.submit(lambda: second.set())  # type: ignore[func-returns-value]
    assert second.wait(WAIT)
    for thread in list(pool.threads):
        thread.join(WAIT)


def test_pool_reuses_an_idle_thread() -> None:
    from anyio_bridge._pool import WorkerPool

    pool = WorkerPool(idle_timeout=WAIT)
    idle = threading.Event()
    names: list[threading.Thread] = []

    def job() -> Callable[[], object]:
        names.append(threading.current_thread())
        return idle.set

    pool.submit(job)
    assert idle.wait(WAIT)
    idle.clear()
    pool.submit(job)
    assert idle.wait(WAIT)
    assert names[0] is names[1]
    pool.idle_timeout = 0.01
    pool.submit(lambda: None)  # wakes it; it then retires quickly
    for thread in list(pool.threads):
        thread.join(WAIT)
        assert not thread.is_alive()


def test_pool_thread_takes_a_job_submitted_as_it_retires() -> None:
    """A job queued for an idle thread is never stranded by its retirement."""
    from queue import Empty

    from anyio_bridge._pool import WorkerPool

    pool = WorkerPool(idle_timeout=WAIT)
    done = threading.Event()

    class Jobs:
        """A queue whose first wait times out although a job is there."""

        def __init__(self) -> None:
            self.items: list[Any] = []
            self.timed_out = False

        def put(self, job: Any) -> None:
            self.items.append(job)

        def empty(self) -> bool:
            return not self.items

        def get(self, timeout: float) -> Any:
            if not self.timed_out:
                self.timed_out = True
                pool._idle -= 1  # as submit() does, then the "race"
                self.items.append(lambda: done.set())
                raise Empty
            if self.items:
                return self.items.pop(0)
            raise Empty  # idle: the thread retires now

    pool._jobs = Jobs()  # type: ignore[assignment]
    pool.submit(lambda: None)
    assert done.wait(WAIT)
    for thread in list(pool.threads):
        thread.join(WAIT)
        assert not thread.is_alive()


def test_pool_forgets_its_threads_after_fork() -> None:
    from anyio_bridge._pool import WorkerPool

    pool = WorkerPool()
    pool._idle = 3
    pool.threads.add(threading.current_thread())
    pool.after_fork_in_child()
    assert pool._idle == 0
    assert pool.threads == set()


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
