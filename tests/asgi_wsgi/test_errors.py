"""Applications that fail: invalid messages, exceptions, no response, timeouts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from anyio_bridge.wsgi import ClientDisconnected

from .driver import (
    BACKENDS,
    TEXT,
    Gate,
    Message,
    Receive,
    Scope,
    Send,
    log_signal,
    make_environ,
    request,
    serve,
    start,
    text,
    wait_for,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

START = {"type": "http.response.start", "status": 200, "headers": TEXT}
SERVER_ERROR = "500 Internal Server Error"


def start_with(**fields: Any) -> Message:
    return {"type": "http.response.start", "status": 200, "headers": TEXT, **fields}


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "anyio_bridge.wsgi" and r.levelno >= logging.ERROR
    ]


INVALID = [
    pytest.param([start_with(status="200")], TypeError, "must be an int", id="str"),
    pytest.param([start_with(status=True)], TypeError, "must be an int", id="bool"),
    pytest.param([start_with(status=None)], TypeError, "must be an int", id="none"),
    pytest.param([start_with(status=99)], ValueError, "not in 100-599", id="99"),
    pytest.param([start_with(status=600)], ValueError, "not in 100-599", id="600"),
    pytest.param(
        [start_with(headers=[(b"x",)])], ValueError, "not a .name, value. pair", id="1"
    ),
    pytest.param([start_with(headers=[5])], ValueError, "pair", id="int-header"),
    pytest.param(
        [start_with(headers=[("x-a", "1")])], TypeError, "pair of bytes", id="str-hdr"
    ),
    pytest.param(
        [start_with(headers=[(b"x-a", 1)])], TypeError, "pair of bytes", id="int-val"
    ),
    pytest.param(
        [start_with(headers=[(b"bad name", b"1")])],
        ValueError,
        "invalid response header name",
        id="space-in-name",
    ),
    pytest.param(
        [start_with(headers=[(b"", b"1")])],
        ValueError,
        "invalid response header name",
        id="empty-name",
    ),
    pytest.param(
        [start_with(headers=[(b"x-a:", b"1")])],
        ValueError,
        "invalid response header name",
        id="colon-in-name",
    ),
    *(
        pytest.param(
            [start_with(headers=[(b"x-a", b"1" + bad + b"2")])],
            ValueError,
            "CR, LF or NUL",
            id=f"value-{bad!r}",
        )
        for bad in (b"\r", b"\n", b"\x00", b"\r\nSet-Cookie: a=1")
    ),
    pytest.param(
        [START, {"type": "http.response.body", "body": "text"}],
        TypeError,
        "must be bytes, not str",
        id="str-body",
    ),
    pytest.param(
        [START, {"type": "http.response.body", "body": None}],
        TypeError,
        "must be bytes, not NoneType",
        id="none-body",
    ),
    pytest.param([START, START], RuntimeError, "sent twice", id="start-twice"),
    pytest.param(
        [{"type": "http.response.body", "body": b"x"}],
        RuntimeError,
        "before http.response.start",
        id="body-before-start",
    ),
    pytest.param(
        [{"type": "http.response.pathsend", "path": "/etc/hostname"}],
        RuntimeError,
        "before http.response.start",
        id="pathsend-before-start",
    ),
    pytest.param(
        [START, {"type": "http.response.pathsend", "path": Path("/etc/hostname")}],
        TypeError,
        "'path' must be a str",
        id="pathsend-path-object",
    ),
    pytest.param(
        [START, {"type": "http.response.pathsend", "path": "etc/hostname"}],
        ValueError,
        "must be absolute",
        id="pathsend-relative",
    ),
    pytest.param(
        [START, {"type": "http.response.trailers", "headers": []}],
        RuntimeError,
        "unexpected ASGI message type 'http.response.trailers'",
        id="unknown-type",
    ),
    pytest.param(
        [{"type": "websocket.accept"}],
        RuntimeError,
        "unexpected ASGI message type 'websocket.accept'",
        id="websocket",
    ),
    pytest.param([{"status": 200}], KeyError, "type", id="no-type"),
]


@pytest.mark.parametrize(("messages", "error", "match"), INVALID)
def test_invalid_message_before_anything_was_sent_is_500(
    backend: str,
    caplog: pytest.LogCaptureFixture,
    messages: list[Message],
    error: type[Exception],
    match: str,
) -> None:
    raised: list[Exception] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            for message in messages:
                await send(message)
        except Exception as exc:
            raised.append(exc)  # the app sees its mistake where it made it
            raise

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ(path="/bad"))
    assert call.status == SERVER_ERROR
    assert call.body == SERVER_ERROR.encode()
    [exc] = raised
    assert isinstance(exc, error)
    with pytest.raises(error, match=match):
        raise exc
    [record] = errors_logged(caplog)
    assert record.getMessage() == "Exception in ASGI application (GET /bad)"
    assert record.exc_info is not None
    assert record.exc_info[1] is exc


def test_invalid_message_caught_by_the_app(backend: str) -> None:
    # The app survives its own mistake and answers properly.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(start_with(status=1000))
        except ValueError as exc:
            await text(send, str(exc).encode(), status=500)

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
    assert call.status == SERVER_ERROR
    assert call.body == b"http.response.start 'status' 1000 is not in 100-599"


def test_exception_before_the_start_is_500_and_logged(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = LookupError("no such thing")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise error

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ("POST", "/things", body=b"x"))
        assert call.status == SERVER_ERROR
        assert call.header("Content-Type") == "text/plain; charset=utf-8"
        # The adapter carries on.
        assert request(adapter, make_environ()).status == SERVER_ERROR
    records = errors_logged(caplog)
    assert [r.getMessage() for r in records] == [
        "Exception in ASGI application (POST /things)",
        "Exception in ASGI application (GET /)",
    ]
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is error


def test_exception_after_a_start_sent_alone_replaces_the_response(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The start went to the server, but servers send the headers with the
    # first body bytes: the server can still switch to a 500.
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()
        raise ZeroDivisionError

    with (
        serve(app, backend=backend) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.status == "200 OK"
        gate.open()
        assert call.read() == SERVER_ERROR.encode()
    assert call.status == SERVER_ERROR
    assert call.exc_info is not None
    assert str(call.exc_info[1]) == (
        "ASGI application failed: the application raised ZeroDivisionError"
    )
    [record] = errors_logged(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_exception_mid_body_raises_from_the_iterable(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        await gate.wait()
        raise ZeroDivisionError

    with serve(app, backend=backend) as adapter:
        with start(adapter, make_environ()) as call:
            assert call.next_chunk() == b"half"
            gate.open()
            # The server drops the connection: the client sees a cut response.
            with pytest.raises(RuntimeError, match="failed mid-response"):
                call.next_chunk()
        assert call.status == "200 OK"
    assert isinstance(errors_logged(caplog)[0].exc_info[1], ZeroDivisionError)  # type: ignore[index]


def test_invalid_message_mid_body_raises_from_the_iterable(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    raised: list[Exception] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await gate.wait()
        try:
            await send({"type": "http.response.pathsend", "path": "/etc/hostname"})
        except RuntimeError as exc:
            raised.append(exc)
            raise

    with (
        serve(app, backend=backend) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.next_chunk() == b"x"
        gate.open()
        with pytest.raises(RuntimeError, match="failed mid-response"):
            call.read()
    assert "must be the only body message" in str(raised[0])
    assert errors_logged(caplog)


def test_returning_without_a_response_is_500(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ(path="/nothing"))
    assert call.status == SERVER_ERROR
    assert [r.getMessage() for r in errors_logged(caplog)] == [
        "the application returned without sending a response (GET /nothing)"
    ]


def test_returning_after_the_start_only_is_500(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ(path="/half"))
    assert call.status == SERVER_ERROR
    assert [r.getMessage() for r in errors_logged(caplog)] == [
        "the application returned before completing its response (GET /half)"
    ]


def test_returning_mid_body_raises_from_the_iterable(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await gate.wait()

    with (
        serve(app, backend=backend) as adapter,
        start(adapter, make_environ()) as call,
    ):
        assert call.next_chunk() == b"x"
        gate.open()
        with pytest.raises(RuntimeError, match="returned before completing"):
            call.next_chunk()
    assert len(errors_logged(caplog)) == 1


def test_exception_after_a_complete_response_is_only_logged(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await text(send, b"all there")
        raise ZeroDivisionError

    with serve(app, backend=backend) as adapter, log_signal() as logged:
        call = request(adapter, make_environ())
        wait_for(logged)  # the response went out before the app raised
    assert (call.status, call.body) == ("200 OK", b"all there")
    [record] = errors_logged(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_send_after_the_response_was_handed_over(backend: str) -> None:
    gate = Gate()
    raised: list[Exception] = []
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await text(send, b"done")
        await gate.wait()
        try:
            await send({"type": "http.response.body", "body": b"extra"})
        except Exception as exc:
            raised.append(exc)
        finally:
            ended.set()

    with serve(app, backend=backend) as adapter:
        call = request(adapter, make_environ())
        gate.open()
        wait_for(ended)
    assert call.body == b"done"
    [exc] = raised
    assert isinstance(exc, ClientDisconnected)  # the server is done with it


def test_message_after_the_complete_response(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    sent = threading.Event()
    raised: list[Exception] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await gate.wait()
        await send({"type": "http.response.body", "body": b"done"})
        try:
            await send({"type": "http.response.body", "body": b"extra"})
        except RuntimeError as exc:
            raised.append(exc)
            raise
        finally:
            sent.set()

    with serve(app, backend=backend) as adapter, log_signal() as logged:
        with start(adapter, make_environ()) as call:
            gate.open()
            wait_for(sent)
            assert call.read() == b"done"  # delivered whole all the same
        wait_for(logged)
    assert "after the response was complete" in str(raised[0])
    [record] = errors_logged(caplog)
    assert record.exc_info is not None
    assert record.exc_info[1] is raised[0]


def test_response_timeout_is_504_and_cancels_the_app(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    ended = threading.Event()
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Gate().wait()  # never opened
        except BaseException:
            cancelled.append(True)
            raise
        finally:
            ended.set()

    with serve(app, backend=backend, response_timeout=0.05) as adapter:
        call = request(adapter, make_environ(path="/slow"))
        assert call.status == "504 Gateway Timeout"
        assert call.body == b"504 Gateway Timeout"
        wait_for(ended)
    assert cancelled == [True]
    assert [r.getMessage() for r in errors_logged(caplog)] == [
        "no response within response_timeout=0.05s (GET /slow): answering 504"
    ]


def test_response_within_the_timeout(backend: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()  # the body is streamed: the thread reads it
        await text(send, message["body"])

    environ = make_environ("POST", body=b"x" * 5000)
    with serve(app, backend=backend, response_timeout=60, chunk_size=4096) as adapter:
        call = request(adapter, environ)
    assert call.body == b"x" * 4096


def test_timeout_before_the_task_started_never_runs_the_app(backend: str) -> None:
    # The loop thread is busy (here: blocked by a badly behaved app of another
    # adapter) when a request times out; the app must not run for it later.
    blocking = threading.Event()
    unblock = threading.Event()
    ran: list[str] = []

    async def blocker(scope: Scope, receive: Receive, send: Send) -> None:
        blocking.set()
        unblock.wait(10)  # blocks the whole loop: do not do this
        await text(send, b"unblocked")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ran.append(scope["path"])
        await text(send)

    outcome: list[bytes] = []
    with (
        serve(blocker, backend=backend) as first,
        serve(app, backend=backend, response_timeout=0) as second,
    ):
        thread = threading.Thread(
            target=lambda: outcome.append(request(first, make_environ()).body)
        )
        thread.start()
        try:
            wait_for(blocking)
            call = request(second, make_environ(path="/late"))
        finally:
            unblock.set()
            thread.join()
        assert call.status == "504 Gateway Timeout"
        # The loop runs again: the second adapter still answers.
        assert request(first, make_environ()).body == b"unblocked"
    assert outcome == [b"unblocked"]
    assert ran == []
