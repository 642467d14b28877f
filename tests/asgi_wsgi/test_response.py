"""The response: from the application's ``send()`` to what the WSGI call returns."""

from __future__ import annotations

import logging
import os
import threading
import wsgiref.util
from pathlib import Path
from typing import IO, Any, ClassVar

import anyio
import pytest

from anyio_bridge._asgi_wsgi.response import FileIterator, ResponseIterator
from anyio_bridge.wsgi import ClientDisconnected

from .driver import (
    BACKENDS,
    TEXT,
    Gate,
    Reached,
    Receive,
    Scope,
    Send,
    make_environ,
    request,
    serve,
    start,
    text,
    wait_for,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

MiB = 1024 * 1024
START = {"type": "http.response.start", "status": 200, "headers": TEXT}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_whole_response_is_a_one_item_list(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [*TEXT, (b"x-one", b"1"), (b"Set-Cookie", b"a=1")],
            }
        )
        await send(body(b"created"))

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ("POST"))
    assert call.status == "201 Created"
    assert call.headers == [
        ("content-type", "text/plain"),
        ("x-one", "1"),
        ("Set-Cookie", "a=1"),
    ]
    assert call.original == [b"created"]
    assert call.chunks == [b"created"]


def test_empty_response_is_an_empty_list(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ("DELETE"))
    assert call.status == "204 No Content"
    assert call.headers == []
    assert call.original == []


def test_status_lines(backend: str) -> None:
    statuses = iter([404, 418, 299, 599, 100])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await text(send, status=next(statuses))

    with serve(app, backend=backend) as adapter:
        lines = [request(adapter, make_environ()).status for _ in range(5)]
    assert lines == [
        "404 Not Found",
        "418 I'm a Teapot",
        "299 Unknown",
        "599 Unknown",
        "100 Continue",
    ]


def test_hop_by_hop_headers_are_dropped(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"Connection", b"close"),
            (b"content-type", b"text/plain"),
            (b"Keep-Alive", b"timeout=5"),
            (b"transfer-encoding", b"chunked"),
            (b"x-kept", b"1"),
            (b"TE", b"trailers"),
            (b"Trailer", b"x-sum"),
            (b"upgrade", b"h2c"),
            (b"proxy-authenticate", b"Basic"),
            (b"proxy-authorization", b"Basic eA=="),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(body(b"x"))

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.headers == [
        ("content-type", "text/plain"),
        ("x-kept", "1"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]


def test_bytes_like_bodies(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(bytearray(b"ab"), more=True))  # type: ignore[arg-type]
        await send(body(memoryview(b"cd")))  # type: ignore[arg-type]

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.body == b"abcd"
    assert all(type(chunk) is bytes for chunk in call.chunks)


def test_bytearray_and_list_headers(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (bytearray(b"content-type"), bytearray(b"text/plain")),
                    [b"x-latin", "caf\u00e9".encode("latin-1")],  # a list pair
                    (bytearray(b"Connection"), b"close"),  # still hop-by-hop
                ],
            }
        )
        await send(body(b"x"))

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.headers == [("content-type", "text/plain"), ("x-latin", "caf\u00e9")]


def test_response_streams(backend: str) -> None:
    # The app sends its second chunk only after the test has read the first:
    # an adapter that buffered the response would never return (a 504 here).
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"first", more=True))
        await gate.wait()
        await send(body(b"second", more=True))
        await send(body(b"third"))

    with (
        serve(app, backend=backend, response_timeout=60) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.status == "200 OK"
        assert isinstance(call.original, ResponseIterator)
        assert call.next_chunk() == b"first"
        gate.open()
        assert call.read() == b"firstsecondthird"
        with pytest.raises(StopIteration):
            call.next_chunk()  # and it stays at its end


def test_call_returns_at_the_start_when_the_body_waits(backend: str) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()  # yields to the loop: the start goes out alone
        await send(body(b"later"))

    with (
        serve(app, backend=backend, response_timeout=60) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.status == "200 OK"
        assert not gate.is_open
        gate.open()
        assert call.read() == b"later"


def test_empty_body_messages_are_not_chunks(backend: str) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"", more=True))
        await gate.wait()
        await send(body(b"", more=True))
        await send(body(b"x", more=True))
        await send(body(b""))

    with (
        serve(app, backend=backend) as adapter,
        start(adapter, make_environ()) as call,
    ):
        gate.open()
        call.read()
    assert b"" not in call.chunks
    assert call.body == b"x"


def test_large_streaming_response(backend: str) -> None:
    size, piece, buffer = 4 * MiB, 64 * 1024, 256 * 1024
    data = os.urandom(size)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        for offset in range(0, size, piece):
            await send(body(data[offset : offset + piece], more=True))
        await send(body(b""))

    with (
        serve(app, backend=backend, send_buffer_size=buffer) as adapter,
        start(adapter, make_environ()) as call,
    ):
        received = call.read()
    assert received == data
    # Never more than the send buffer (and one message) waiting at once.
    assert max(len(chunk) for chunk in call.chunks) <= buffer + piece


def test_send_waits_while_the_send_buffer_is_full(backend: str) -> None:
    first_taken = Gate()
    checked = Reached()
    about_to_read = threading.Event()
    results: dict[str, bool] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"a", more=True))
        await first_taken.wait()
        # Under the buffer size (100 bytes): send() returns at once, so a
        # cancelled scope around it catches nothing.
        with anyio.CancelScope() as scope_under:
            scope_under.cancel()
            await send(body(b"b" * 60, more=True))
        results["under waited"] = scope_under.cancelled_caught
        # Past it: send() waits, so the cancelled scope interrupts the wait
        # (the chunk is queued all the same).
        with anyio.CancelScope() as scope_over:
            scope_over.cancel()
            await send(body(b"c" * 60, more=True))
        results["over waited"] = scope_over.cancelled_caught
        checked.set()
        await send(body(b"", more=True))  # waits until the server takes them
        results["released after the read began"] = about_to_read.is_set()
        await send(body(b"d"))

    with (
        serve(app, backend=backend, send_buffer_size=100) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.next_chunk() == b"a"
        first_taken.open()
        checked.wait()  # the app waits in send()
        about_to_read.set()
        assert call.next_chunk() == b"b" * 60 + b"c" * 60
        assert call.read().endswith(b"d")
    assert results == {
        "under waited": False,
        "over waited": True,
        "released after the read began": True,
    }


class RecordingFileWrapper(wsgiref.util.FileWrapper):
    """A server's ``wsgi.file_wrapper`` that remembers what it was given."""

    made: ClassVar[list[RecordingFileWrapper]] = []

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        super().__init__(filelike, blksize)
        self.made.append(self)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(10_000))
    return path


def pathsend_app(path: Path | str) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    return app


def test_pathsend_uses_the_servers_file_wrapper(backend: str, payload: Path) -> None:
    RecordingFileWrapper.made = []
    environ = make_environ()
    environ["wsgi.file_wrapper"] = RecordingFileWrapper
    with serve(pathsend_app(payload), backend=backend, chunk_size=4096) as adapter:
        call = request(adapter, environ)
    assert call.status == "200 OK"
    [wrapper] = RecordingFileWrapper.made
    assert call.original is wrapper
    assert wrapper.blksize == 4096
    assert wrapper.filelike.name == str(payload)
    assert wrapper.filelike.closed  # closed with the iterable
    assert call.body == payload.read_bytes()


def test_pathsend_without_a_file_wrapper(backend: str, payload: Path) -> None:
    environ = make_environ()
    assert "wsgi.file_wrapper" not in environ
    with serve(pathsend_app(payload), backend=backend, chunk_size=4096) as adapter:
        call = request(adapter, environ)
    assert isinstance(call.original, FileIterator)
    assert [len(chunk) for chunk in call.chunks] == [4096, 4096, 1808]
    assert call.body == payload.read_bytes()


def test_pathsend_after_the_start_went_out_alone(backend: str, payload: Path) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()
        await send(body(b"", more=True))  # an empty body message is no body
        await send({"type": "http.response.pathsend", "path": str(payload)})

    environ = make_environ()
    environ["wsgi.file_wrapper"] = RecordingFileWrapper
    with (
        serve(app, backend=backend, chunk_size=4096) as adapter,
        start(adapter, environ) as call,
    ):
        assert isinstance(call.original, ResponseIterator)
        gate.open()
        assert call.next_chunk() == payload.read_bytes()[:4096]
        assert call.read() == payload.read_bytes()
        with pytest.raises(StopIteration):
            call.next_chunk()


def test_pathsend_file_closed_when_the_server_closes_early(
    backend: str, payload: Path
) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()
        await send({"type": "http.response.pathsend", "path": str(payload)})

    with (
        serve(app, backend=backend, chunk_size=4096) as adapter,
        start(adapter, make_environ()) as call,
    ):
        gate.open()
        assert call.next_chunk() == payload.read_bytes()[:4096]
    # The no_leaks fixture checks the file descriptor was closed.


def test_missing_pathsend_file_is_500(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "missing.bin"
    with serve(pathsend_app(missing), backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.status == "500 Internal Server Error"
    assert f"cannot open {str(missing)!r}" in caplog.text


def test_missing_pathsend_file_after_the_start_is_500(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    missing = tmp_path / "missing.bin"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()
        await send({"type": "http.response.pathsend", "path": str(missing)})

    with (
        serve(app, backend=backend) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.status == "200 OK"
        gate.open()
        assert call.read() == b"500 Internal Server Error"
    # Nothing had reached the client: the server could still replace it.
    assert call.status == "500 Internal Server Error"
    assert call.exc_info is not None
    assert "could not be opened" in str(call.exc_info[1])
    assert "cannot open" in caplog.text


def test_server_refusing_the_headers(backend: str) -> None:
    # wsgiref.validate's start_response refuses a name ending in "-", which
    # HTTP allows: the server's error comes out of the WSGI call.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*TEXT, (b"x-odd-", b"1")],
            }
        )
        await send(body(b"x"))

    with (
        serve(app, backend=backend) as adapter,
        pytest.raises(AssertionError, match="may not end in"),
    ):
        start(adapter, make_environ())


def test_server_refusing_the_headers_of_a_file(backend: str, payload: Path) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*TEXT, (b"x-odd-", b"1")],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(payload)})

    with (
        serve(app, backend=backend) as adapter,
        pytest.raises(AssertionError, match="may not end in"),
    ):
        start(adapter, make_environ())
    # The no_leaks fixture checks the file was closed.


def test_server_refusing_the_headers_of_a_stream(backend: str) -> None:
    gate = Gate()
    outcome: list[BaseException] = []
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*TEXT, (b"x-odd-", b"1")],
                }
            )
            await gate.wait()
            await send(body(b"x", more=True))
        except OSError as exc:
            outcome.append(exc)
        finally:
            ended.set()

    with serve(app, backend=backend) as adapter:
        with pytest.raises(AssertionError, match="may not end in"):
            start(adapter, make_environ())
        gate.open()
        wait_for(ended)
    [error] = outcome
    assert isinstance(error, ClientDisconnected)


def test_logs_nothing_for_a_good_response(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "anyio_bridge.wsgi")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await text(send, b"fine")

    with serve(app, backend=backend) as adapter:
        assert request(adapter, make_environ()).body == b"fine"
    assert caplog.records == []


def test_head_drops_the_pathsend_file(backend: str, payload: Path) -> None:
    RecordingFileWrapper.made = []
    environ = make_environ("HEAD")
    environ["wsgi.file_wrapper"] = RecordingFileWrapper
    with serve(pathsend_app(payload), backend=backend) as adapter:
        call = request(adapter, environ)
    assert call.status == "200 OK"
    assert call.header("content-type") == "application/octet-stream"
    assert RecordingFileWrapper.made == []  # the file is never opened
    assert call.body == b""
