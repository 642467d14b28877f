"""The request body: from ``wsgi.input`` to the application's ``receive()``."""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest

from anyio_bridge._asgi_wsgi.exchange import READ_AHEAD

from .driver import (
    BACKENDS,
    Gate,
    Input,
    Message,
    Receive,
    Scope,
    Send,
    make_environ,
    request,
    serve,
    text,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

MiB = 1024 * 1024


async def receive_all(receive: Receive) -> list[Message]:
    """Every message up to the end of the body or a disconnect."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message["more_body"]:
            return messages


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages)


def pattern(size: int) -> bytes:
    """*size* bytes that are not all alike (so that a reordering shows)."""
    block = bytes(range(251))  # a prime length: no chunk-sized period
    return (block * (size // len(block) + 1))[:size]


class Recorder:
    """An application that reads the whole body and answers with its digest."""

    def __init__(self, wsgi_input: Input | None = None) -> None:
        self.input = wsgi_input
        self.position_at_start: int | None = None
        self.messages: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.input is not None:
            self.position_at_start = self.input.position
        self.messages = await receive_all(receive)
        body = body_of(self.messages)
        await text(send, hashlib.sha256(body).hexdigest().encode())


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def test_no_body(backend: str) -> None:
    app = Recorder()
    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.body == digest(b"")
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_content_length_zero(backend: str) -> None:
    wsgi_input = Input(b"never read")
    app = Recorder(wsgi_input)
    environ = make_environ("POST", CONTENT_LENGTH="0")
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend) as adapter:
        request(adapter, environ)
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]
    assert wsgi_input.sizes == []


def test_small_body_is_read_before_the_application_starts(backend: str) -> None:
    wsgi_input = Input(b"hello")
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=b"hello")
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ)
    assert call.body == digest(b"hello")
    assert app.position_at_start == 5  # read whole before the app started
    assert wsgi_input.threads == {threading.current_thread().name}
    assert wsgi_input.sizes == [5]  # never past CONTENT_LENGTH
    assert app.messages == [
        {"type": "http.request", "body": b"hello", "more_body": False}
    ]


def test_small_body_from_a_server_returning_short_reads(backend: str) -> None:
    wsgi_input = Input(b"0123456789", max_read=3)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=b"0123456789")
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ)
    assert call.body == digest(b"0123456789")
    assert app.position_at_start == 10
    assert wsgi_input.sizes == [10, 7, 4, 1]  # what is left, each time
    assert [m["body"] for m in app.messages] == [b"012", b"345", b"678", b"9"]
    assert [m["more_body"] for m in app.messages] == [True, True, True, False]


def test_body_of_exactly_chunk_size_is_read_ahead_of_the_app(backend: str) -> None:
    data = pattern(1024)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend, chunk_size=1024) as adapter:
        request(adapter, environ)
    assert app.position_at_start == 1024
    assert len(app.messages) == 1


@pytest.mark.parametrize("size", [1025, 4 * MiB + 7])
def test_large_body_streams_in_chunks(backend: str, size: int) -> None:
    data = pattern(size)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = wsgi_input
    chunk_size = 1024 if size < MiB else 64 * 1024
    with serve(app, backend=backend, chunk_size=chunk_size) as adapter:
        call = request(adapter, environ)
    assert call.body == digest(data)
    assert app.position_at_start == 0  # not read before the app asked
    assert body_of(app.messages) == data
    assert all(len(m["body"]) <= chunk_size for m in app.messages)
    assert len(app.messages) >= size // chunk_size
    assert app.messages[-1]["more_body"] is False
    assert all(m["more_body"] for m in app.messages[:-1])
    # Bounded reads, never past CONTENT_LENGTH (a socket would block there).
    assert max(wsgi_input.sizes) <= chunk_size
    assert sum(wsgi_input.sizes) == size
    # The server's thread reads: the loop never blocks on the socket.
    assert wsgi_input.threads == {threading.current_thread().name}


def test_read_ahead_is_bounded(backend: str) -> None:
    data = pattern(16 * 1024)
    gate = Gate()

    def on_read(reads: int) -> None:
        if reads == 1 + READ_AHEAD:
            gate.open()

    wsgi_input = Input(data, on_read=on_read)
    reads_seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        # Read ahead of the app while it does not ask: READ_AHEAD chunks more.
        await gate.wait()
        reads_seen.append(len(wsgi_input.sizes))
        rest = await receive_all(receive)
        await text(send, body_of([first, *rest]))

    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend, chunk_size=1024) as adapter:
        call = request(adapter, environ)
    assert call.body == data
    assert reads_seen == [1 + READ_AHEAD]


def test_unread_body_is_not_read(backend: str) -> None:
    wsgi_input = Input(pattern(10_000))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await text(send, b"did not read")

    environ = make_environ("POST", body=pattern(10_000))
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend, chunk_size=1024) as adapter:
        call = request(adapter, environ)
    assert call.body == b"did not read"
    assert wsgi_input.sizes == []


@pytest.mark.parametrize("size", [0, 10, 3 * MiB + 17])
def test_input_terminated_is_read_to_eof(backend: str, size: int) -> None:
    # Chunked uploads: no CONTENT_LENGTH, the server marks EOF (gunicorn).
    data = pattern(size)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", headers={"Transfer-Encoding": "chunked"})
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.input_terminated"] = True
    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ)
    assert call.code == 200
    assert call.body == digest(data)
    assert body_of(app.messages) == data
    assert app.position_at_start == 0
    assert app.messages[-1]["more_body"] is False
    assert set(wsgi_input.sizes) == {64 * 1024}  # full chunks up to EOF


def test_input_terminated_wins_over_content_length(backend: str) -> None:
    data = pattern(5000)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.input_terminated"] = True
    with serve(app, backend=backend, chunk_size=4096) as adapter:
        request(adapter, environ)
    assert body_of(app.messages) == data
    assert wsgi_input.sizes == [4096, 4096, 4096]  # the last read hits EOF


@pytest.mark.parametrize("encoding", ["chunked", "gzip, Chunked"])
def test_chunked_without_input_terminated_is_411(backend: str, encoding: str) -> None:
    called = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    environ = make_environ("POST", headers={"Transfer-Encoding": encoding})
    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ)
    assert call.status == "411 Length Required"
    assert call.body == b"411 Length Required"
    assert call.header("Content-Type") == "text/plain; charset=utf-8"
    assert call.header("Content-Length") == str(len(call.body))
    assert called == []


@pytest.mark.parametrize(
    ("length", "validate"),
    [
        ("+5", True),
        ("1_0", True),
        ("\u0663", True),  # int() takes an Arabic-Indic three, HTTP does not
        # wsgiref.validate itself refuses these (int() fails or < 0):
        ("abc", False),
        ("-1", False),
        ("1.5", False),
    ],
)
def test_bad_content_length_is_400(backend: str, length: str, validate: bool) -> None:
    called = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    environ = make_environ("POST", body=b"hello")
    environ["CONTENT_LENGTH"] = length
    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ, validate=validate)
    assert call.status == "400 Bad Request"
    assert call.body == b"400 Bad Request"
    assert called == []


@pytest.mark.parametrize(
    ("size", "sent", "chunk_size"),
    [
        (10, 4, 65536),  # a small body, read before the app starts
        (10, 0, 65536),  # nothing at all
        (10_000, 3000, 1024),  # streamed
    ],
)
def test_short_body_is_a_disconnect(
    backend: str, size: int, sent: int, chunk_size: int
) -> None:
    # The client went away before sending CONTENT_LENGTH bytes: the app must
    # not take what came as the whole body.
    data = pattern(sent)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data, CONTENT_LENGTH=str(size))
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend, chunk_size=chunk_size) as adapter:
        call = request(adapter, environ)
    assert call.code == 200  # the app answered anyway; nobody will read it
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert body_of(app.messages) == data
    assert all(m["more_body"] for m in app.messages[:-1])


def test_read_error_is_a_disconnect(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = pattern(8192)
    wsgi_input = Input(data, fail_after=2048)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data)
    environ["wsgi.input"] = wsgi_input
    caplog.set_level(logging.DEBUG, "anyio_bridge.wsgi")
    with serve(app, backend=backend, chunk_size=1024) as adapter:
        request(adapter, environ)
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert body_of(app.messages) == data[:2048]
    assert all(m["more_body"] for m in app.messages[:-1])
    assert "reading the request body failed" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_read_error_on_a_small_body_is_a_disconnect(backend: str) -> None:
    wsgi_input = Input(b"hello", fail_after=0)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=b"hello")
    environ["wsgi.input"] = wsgi_input
    with serve(app, backend=backend) as adapter:
        request(adapter, environ)
    assert app.messages == [{"type": "http.disconnect"}]


def test_receive_after_the_response_is_a_disconnect(backend: str) -> None:
    after: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await text(send, b"done")
        after.append(await receive())  # the (empty) body is still there
        after.append(await receive())
        after.append(await receive())

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.body == b"done"
    assert after == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]


@pytest.mark.parametrize(
    ("size", "sent", "chunk_size"),
    [(10, 4, 4096), (10_000, 5_000, 4096)],
)
def test_input_terminated_short_of_content_length_is_a_disconnect(
    backend: str, size: int, sent: int, chunk_size: int
) -> None:
    # gunicorn sets wsgi.input_terminated on every request and ends a body
    # cut off by the client with a plain EOF: short of CONTENT_LENGTH, that
    # EOF is the client gone, not the end of the body.
    data = pattern(sent)
    wsgi_input = Input(data)
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=data, CONTENT_LENGTH=str(size))
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.input_terminated"] = True
    with serve(app, backend=backend, chunk_size=chunk_size) as adapter:
        request(adapter, environ)
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert body_of(app.messages) == data


def test_input_terminated_small_body_is_read_before_the_app_starts(
    backend: str,
) -> None:
    wsgi_input = Input(b"hello")
    app = Recorder(wsgi_input)
    environ = make_environ("POST", body=b"hello")
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.input_terminated"] = True
    with serve(app, backend=backend) as adapter:
        request(adapter, environ)
    assert app.position_at_start == 5
    assert wsgi_input.sizes == [64 * 1024, 64 * 1024]  # the second finds EOF
    assert app.messages == [
        {"type": "http.request", "body": b"hello", "more_body": False}
    ]


def test_input_terminated_without_length_or_chunking_is_no_body(
    backend: str,
) -> None:
    # A GET under gunicorn: the flag is set, but HTTP/1.1 says there is no
    # body, so wsgi.input is not even read.
    wsgi_input = Input(b"")
    app = Recorder(wsgi_input)
    environ = make_environ()
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.input_terminated"] = True
    with serve(app, backend=backend) as adapter:
        request(adapter, environ)
    assert wsgi_input.sizes == []
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]
